// Evaluates IAM requests against identity policies, and the resource's policy where it has
// one, with @cloud-copilot/iam-simulate, for tests/iam_simulator.py: one process for a whole
// batch. The principal's account (from its ARN) and the resource's account decide whether
// AWS's cross-account logic applies: then both the identity and the resource policy must allow.
//
// stdin:  {"policies": {name: policy document}, "requests": [{"identity": [names],
//          "resourcePolicy": name or "", "principal": arn, "action": "svc:Action",
//          "resource": arn, "account": the resource's account id,
//          "context": {key: value or [values]}}]}
// stdout: [{"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error",
//           "resourceType": the action's resource type the ARN was matched to,
//           "ignoredContextKeys": context keys that do not apply to the action,
//           "errors": why the request could not be evaluated}]  (same order as requests)
//
// Strict mode: the request is evaluated exactly as given (a missing context key is absent,
// as in AWS), no Discovery guesses.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const batch = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const results = []
for (const request of batch.requests) {
  const names = [...request.identity, ...(request.resourcePolicy ? [request.resourcePolicy] : [])]
  const unknown = names.filter((name) => batch.policies[name] === undefined)
  if (unknown.length > 0) {
    results.push({ decision: 'Error', errors: `no policy named ${unknown.join(', ')}` })
    continue
  }
  const outcome = await runSimulation(
    {
      request: {
        principal: request.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: request.account },
        contextVariables: request.context,
      },
      identityPolicies: request.identity.map((name) => ({ name, policy: batch.policies[name] })),
      ...(request.resourcePolicy && { resourcePolicy: batch.policies[request.resourcePolicy] }),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    { simulationMode: 'Strict' },
  )
  if (outcome.resultType === 'error') {
    results.push({ decision: 'Error', errors: JSON.stringify(outcome.errors) })
  } else if (outcome.resultType === 'single') {
    results.push({
      decision: outcome.overallResult,
      resourceType: outcome.result.resourceType ?? '',
      ignoredContextKeys: outcome.result.ignoredContextKeys ?? [],
    })
  } else if (request.resource === '*') {
    // A request that names no resource, authorized against "*" (an action whose resource
    // type is optional, e.g. a List call). IAM matches the literal "*" against each
    // statement's Resource, so only a statement whose pattern is "*" can allow it.
    // iam-simulate's wildcard mode answers another question (is SOME resource allowed?),
    // so only its result for the pattern "*" counts.
    const star = outcome.results.find((result) => result.resourcePattern === '*')
    results.push({
      decision: star ? star.analysis.result : 'ImplicitlyDenied',
      resourceType: star ? star.resourceType : '',
      ignoredContextKeys: star ? (star.ignoredContextKeys ?? []) : [],
    })
  } else {
    // A wildcard inside an ARN: the callers send concrete ARNs (or "*") only.
    results.push({ decision: 'Error', errors: `a wildcard in the resource: ${request.resource}` })
  }
}
process.stdout.write(JSON.stringify(results))
