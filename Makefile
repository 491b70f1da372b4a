# Tributary: `make run` starts the local stack and runs a demo sync; `make test` runs
# the whole suite. Both install what they need (ClickHouse from Debian) when missing.

GO            ?= go
BIN           := bin
STATE         ?= .state
CONNECTORS    ?=
CLICKHOUSE    := /usr/sbin/clickhouse-server
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM      := /usr/bin/chromium
BINARIES      := fetcher normalizer processor tributaryctl kfake simulator localstack

.PHONY: all build deps test-deps run test bench vet clean

all: build

# deps installs the Debian packages the stack and the tests run (ClickHouse 18.16).
deps:
	@if [ ! -x $(CLICKHOUSE) ]; then \
		echo "installing clickhouse-server (Debian package)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq clickhouse-server; \
	fi

# test-deps adds what only the tests need: Debian's chromium for the Connector Logs page test.
test-deps: deps
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing chromium (Debian package, for the Connector Logs page test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi

build:
	$(GO) build -o $(BIN)/ ./fetcher ./normalizer ./processor ./fetcher/tributaryctl ./deploy/kfake ./deploy/simulator ./deploy/localstack

# run starts Kafka (kfake), ClickHouse, the simulator and the three services, runs a
# Full sync of the demo connectors (or of CONNECTORS=path/to/connectors.yaml), prints a
# summary and keeps serving until Ctrl-C.
run: deps build
	$(BIN)/localstack --state-dir $(STATE) $(if $(CONNECTORS),--connectors $(CONNECTORS))

test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...

# bench runs the whole pipeline on 200,000 AWS Inspector findings, then on a Cortex XDR
# tenant of 100,000 endpoints, and prints the rates and
# each service's peak RSS, then the component micro-benchmarks.
bench: deps build
	$(BIN)/localstack --state-dir $(STATE)/bench --bench --findings 200000
	$(BIN)/localstack --state-dir $(STATE)/bench --bench --bench-vendor cortex --endpoints 100000
	$(GO) test -run '^$$' -bench . -benchmem ./internal/avro ./internal/connector/awsinspector ./internal/clickhouse

clean:
	rm -rf $(BIN) $(STATE)
