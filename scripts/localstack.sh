#!/usr/bin/env bash
# The LocalStack path: deploy the same CDK app into LocalStack with cdklocal and inspect it with awslocal.
# Needs Docker, `docker compose -f localstack-compose.yml up -d`, and LOCALSTACK_AUTH_TOKEN. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

ENDPOINT="${LOCALSTACK_ENDPOINT:-http://localhost:4566}"
STACK="${TEM_STACK_NAME:-TelemetryEventMesh}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
export AWS_ENDPOINT_URL="$ENDPOINT"
# cdklocal reads these to point the CDK CLI at LocalStack.
export AWS_ENDPOINT_URL_S3="$ENDPOINT" LOCALSTACK_HOSTNAME="${LOCALSTACK_HOSTNAME:-localhost}" EDGE_PORT="${EDGE_PORT:-4566}"

awslocal() {
  # `awslocal` (pip awscli-local) if present, else the plain AWS CLI v2 (Debian `awscli`) with the endpoint.
  if command -v awslocal >/dev/null 2>&1; then command awslocal "$@"; else aws --endpoint-url "$ENDPOINT" "$@"; fi
}

case "${1:-help}" in
  health)
    curl -fsS "$ENDPOINT/_localstack/health" ;;
  deploy)
    npx cdklocal bootstrap
    npx cdklocal deploy "$STACK" --require-approval never ;;
  destroy)
    npx cdklocal destroy "$STACK" --force ;;
  state)
    # Same shape as .tem/local.json, for `TEM_LOCAL_STATE=.tem/localstack.json npm run test:integration`.
    mqtt="$(awslocal iot describe-endpoint --endpoint-type iot:Data-ATS --query endpointAddress --output text 2>/dev/null || true)"
    node scripts/tem.mjs state --from-stack "$STACK" --endpoint "$ENDPOINT" --region "$AWS_REGION" \
      ${mqtt:+--mqtt "mqtt://$mqtt"} ${TEM_API_KEY:+--api-key "$TEM_API_KEY"} ;;
  outputs)
    awslocal cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].Outputs' ;;
  streams)
    awslocal kinesis list-streams ;;
  tables)
    awslocal dynamodb list-tables ;;
  queues)
    awslocal sqs list-queues ;;
  *)
    echo "usage: scripts/localstack.sh health|deploy|destroy|state|outputs|streams|tables|queues" >&2
    exit 2 ;;
esac
