"""Registry and drift events to GitHub's repository_dispatch (issue 19).

An AWS Lambda function (infra/terraform/events.tf packages this folder with smgha/github_api.py)
receives EventBridge events and starts a workflow of the repository:

* a model package of the group turned Approved -> `model-approved`, client_payload
  {"model_package_arn": <the exact version>}: model-deploy deploys exactly that version;
* a drift alarm of the endpoint went to ALARM, or the periodic drift check fired ->
  `drift-detected`, client_payload {endpoint, features, report_uri, execution}: model-build
  retrains, after the last N monitoring runs all found violations (debounce) and while fewer
  than K retrains ran in the last 7 days (budget);
* anything else is ignored with a log line.

Pure standard library (Lambda's Python runtime has boto3, but not `cryptography` or PyJWT):
the GitHub App's JWT is signed by app_token.py with pow().
"""
