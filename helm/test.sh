#!/usr/bin/env bash
# The Helm chart's test (a stage of scripts/test-all). helm/chartcheck renders helm/smtpbridge
# through Helm's Go packages, with the default values and with each values file of
# helm/smtpbridge/ci/, and checks it (chartcheck/chart_test.go):
#   - `helm lint --strict` (Helm's lint package; a warning fails);
#   - every rendered manifest decodes strictly into its Kubernetes API type (unknown, misspelled
#     or duplicate fields refused; the ServiceMonitor, PodMonitor and Certificate into mirrors of
#     their CRDs' fields), and a kind without a known type fails;
#   - the admin token never on a command line, the `helm test` pod presenting it over mutual TLS,
#     an admin token without TLS and a schema-breaking value refused, the Grafana dashboard
#     ConfigMap, hosts on dns:/// of headless Services, the dispatcher's max connection age,
#     selectors and port names that resolve to rendered pods and Services;
#   - values.schema.json (chartcheck/schema_test.go): it declares every .Values path the templates
#     read and nothing else, every object is closed or says why it is open, misspelt keys are
#     refused naming them, values.yaml documents every key, and a binding's keys are exactly the
#     bindings loader's (asked through bridgectl);
#   - the rendered bindings load in the dispatcher's own validator (bridgectl from BIN_DIR).
#
#   helm/test.sh [BIN_DIR]    BIN_DIR: the C++ build's bin/ with bridgectl (default build/release/bin)
#   cd helm/chartcheck && go test ./...    the same without the bridgectl check (it says it skipped)
#
# No helm binary is built. Modules come from the Go module proxy into the user's module cache and
# compiled packages go to the user's build cache, as clients/go/test.sh does, so a repeated run is
# offline and takes seconds; nothing is written into the source tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=$(cd "${1:-$here/../build/release/bin}" && pwd)
[ -x "$BIN_DIR/bridgectl" ] || { echo "no $BIN_DIR/bridgectl: build it (cmake --build --preset release --target bridgectl)" >&2; exit 1; }
cd "$here/chartcheck"
# go vet first, then the tests without go test's own vet pass: go test's vet and scripts/lint's
# go vet would each analyse the ~500 dependency packages (about 20 s of CPU apiece on a fresh
# machine); this way lint's go vet of this module is a cache hit.
go vet ./...
SMTPBRIDGE_BIN_DIR="$BIN_DIR" go test -vet=off -count=1 ./...
echo "helm chart: ok"
