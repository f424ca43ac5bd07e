#!/usr/bin/env bash
# Lints the chart and renders it with the optional parts on, then checks that the rendered
# bindings file is one the dispatcher accepts (with bridgectl's validating loader).
# helm comes from the Go module proxy (built once into ~/.cache/smtpbridge/helm).
set -euo pipefail
cd "$(dirname "$0")"
BIN_DIR=${1:-../build/release/bin}
HELM_VERSION=v3.21.4
HELM=${HELM:-$HOME/.cache/smtpbridge/helm-$HELM_VERSION/helm}
if [ ! -x "$HELM" ]; then
  mkdir -p "$(dirname "$HELM")"
  GOBIN=$(dirname "$HELM") go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
"$HELM" lint smtpbridge --strict
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$HELM" template ci smtpbridge >"$out/default.yaml"
"$HELM" template ci smtpbridge --set proxy.enabled=true --set serviceMonitor.enabled=true \
  --set networkPolicy.enabled=true \
  --set dispatcher.adminToken.existingSecret=admin --set dispatcher.tls.enabled=true \
  --set dispatcher.tls.certManager.enabled=true --set grafanaDashboard.enabled=true >"$out/full.yaml"
for kind in Deployment Service HorizontalPodAutoscaler PodDisruptionBudget ConfigMap ServiceMonitor PodMonitor NetworkPolicy Certificate; do
  grep -q "^kind: $kind$" "$out/full.yaml" || { echo "rendered chart has no $kind"; exit 1; }
done
# The admin token never travels on a command line, and the test hook presents it over mutual TLS.
if grep -q -- "--admin-token" "$out/full.yaml"; then echo "an admin token on a command line"; exit 1; fi
python3 - "$out/full.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
test = text[text.index("helm.sh/hook: test"):]
for needed in ("SMTPBRIDGE_ADMIN_TOKEN", "--tls-cert=", "--tls-ca=", "--tls-server-name="):
    assert needed in test, "helm test pod lacks " + needed
PY
# The dashboard ConfigMap carries the sidecar's label and dashboards/smtpbridge.json verbatim
# (tests/integration/dashboard_metrics_test.py checks the metric names it queries).
python3 - "$out/full.yaml" smtpbridge/dashboards/smtpbridge.json <<'PY'
import json, sys
text = open(sys.argv[1]).read()
doc = text[text.index("name: ci-smtpbridge-dashboard"):]
assert 'grafana_dashboard: "1"' in doc.split("data:")[0], "dashboard ConfigMap lacks the sidecar label"
start = doc.index("  smtpbridge.json: |-\n") + len("  smtpbridge.json: |-\n")
lines = []
for line in doc[start:].splitlines():
    if line and not line.startswith("    "):
        break
    lines.append(line[4:])
assert json.loads("\n".join(lines)) == json.load(open(sys.argv[2])), "rendered dashboard differs from the file"
PY
# A token without TLS would be refused by the dispatcher: the chart says so instead.
if "$HELM" template ci smtpbridge --set dispatcher.adminToken.existingSecret=admin >/dev/null 2>&1; then
  echo "chart accepted an admin token without TLS"
  exit 1
fi
# A values file that breaks the schema must be refused.
if "$HELM" template ci smtpbridge --set dispatcher.port=0 >/dev/null 2>&1; then
  echo "schema did not refuse dispatcher.port=0"
  exit 1
fi
# The rendered bindings must load in the dispatcher's own validator.
python3 - "$out/full.yaml" "$out/bindings.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
start = text.index("  bindings.yaml: |\n") + len("  bindings.yaml: |\n")
lines = []
for line in text[start:].splitlines():
    if line and not line.startswith("    "):
        break
    lines.append(line[4:])
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
"$BIN_DIR/bridgectl" --file "$out/bindings.yaml" enum
echo "helm chart: ok"
