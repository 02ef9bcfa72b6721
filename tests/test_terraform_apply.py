"""infra/apply, the root configuration docs/setup.md applies, checked without terraform:
it passes every input of infra/terraform through, re-exports every output, and hands the
module its three aws providers (one account by default; a role assumed per separate account).
infra/apply/tests/apply.tftest.hcl plans it with mocked providers where terraform can init."""

from __future__ import annotations

import re

from tests.terraform_hcl import MODULE, all_blocks, attribute, blocks, label, parse

APPLY = MODULE.parent / "apply"
# infra/apply's own inputs: the region, and the role terraform assumes in each separate account.
OWN_INPUTS = {"region", "staging_account_role_arn", "production_account_role_arn"}


def apply_blocks(kind: str) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in sorted(APPLY.glob("*.tf")):
        found.update(blocks(parse(path), kind))
    return found


def module_call() -> dict[str, object]:
    (call,) = apply_blocks("module").values()
    return call


def test_every_input_of_the_module_is_an_input_passed_through() -> None:
    module_inputs = set(all_blocks("variable"))
    assert set(apply_blocks("variable")) == module_inputs | OWN_INPUTS
    call = module_call()
    for name in module_inputs:
        assert attribute(call, name) == f"${{var.{name}}}", name
    for name, body in apply_blocks("variable").items():
        if name in module_inputs and name != "github_repository":
            assert attribute(body, "default") is None, f"{name}: null gives the module's default"


def test_null_from_the_root_is_the_module_s_default() -> None:
    """A module input with a default of its own is nullable = false, so the null infra/apply
    passes for an input left out of terraform.tfvars takes that default (Terraform: "nullable
    = false ... Terraform uses the default value when the module input argument is null")."""
    for name, body in all_blocks("variable").items():
        default = attribute(body, "default") if "default" in body else "required"
        nullable = attribute(body, "nullable") if "nullable" in body else True
        if default is not None and default != "required":
            assert nullable is False, f"variables.tf: {name} needs nullable = false"
        else:
            assert nullable is True, f"variables.tf: {name} has no default to fall back on"


def test_every_output_of_the_module_is_an_output_of_the_root() -> None:
    outputs = apply_blocks("output")
    assert set(outputs) == set(all_blocks("output"))
    for name, body in outputs.items():
        assert attribute(body, "value") == f"${{module.sagemaker_mlops.{name}}}", name


def test_the_module_gets_the_three_providers_and_each_separate_account_assumes_its_role() -> None:
    providers = attribute(module_call(), "providers")
    providers = providers[0] if isinstance(providers, list) else providers
    # python-hcl2 reads a bare reference key as ${...} (but the plain aws as aws).
    passed = {key.removeprefix("${").removesuffix("}"): value for key, value in providers.items()}
    assert passed == {
        "aws": "aws",
        "aws.staging": "${aws.staging}",
        "aws.production": "${aws.production}",
    }
    text = (APPLY / "main.tf").read_text(encoding="utf-8")
    for account in ("staging", "production"):
        # The alias assumes <account>_account_role_arn when given, and no role when null.
        block = re.search(rf'alias\s*=\s*"{account}".*?\n}}\n', text, flags=re.DOTALL)
        assert block, f"no aws.{account} provider"
        assert f"var.{account}_account_role_arn == null ? [] :" in block.group(0)
        assert "role_arn = assume_role.value" in block.group(0)
    assert label(attribute(module_call(), "source")) == "../terraform"
