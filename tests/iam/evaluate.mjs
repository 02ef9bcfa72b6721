// Evaluates IAM requests against identity policies with @cloud-copilot/iam-simulate, for
// tests/iam_simulator.py: one process for a whole batch.
//
// stdin:  {"policies": {name: policy document}, "requests": [{"policy": name,
//          "principal": arn, "action": "svc:Action", "resource": arn, "account": id,
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
  const policy = batch.policies[request.policy]
  if (policy === undefined) {
    results.push({ decision: 'Error', errors: `no policy named ${request.policy}` })
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
      identityPolicies: [{ name: request.policy, policy }],
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
