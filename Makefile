# Tributary: `make run` starts the local stack and runs a demo sync; `make test` runs
# the whole suite. Both install what they need (ClickHouse from Debian) when missing.

GO            ?= go
BIN           := bin
STATE         ?= .state
CONNECTORS    ?=
CLICKHOUSE    := /usr/sbin/clickhouse-server
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM      := /usr/bin/chromium
PROMETHEUS    := /usr/bin/prometheus
DOCKER_COMPOSE_V1 := /usr/bin/docker-compose
# up and down use the compose plugin when Docker has it, else the docker-compose command.
COMPOSE       ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
PROFILE       ?=
BINARIES      := fetcher normalizer processor tributaryctl kfake simulator localstack

.PHONY: all build deps test-deps run test bench vet clean up down

all: build

# deps installs the Debian packages the stack and the tests run (ClickHouse 18.16).
deps:
	@if [ ! -x $(CLICKHOUSE) ]; then \
		echo "installing clickhouse-server (Debian package)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq clickhouse-server; \
	fi

# test-deps adds what only the tests need: Debian's chromium for the Connector Logs page
# test, prometheus (with promtool) for the alert rules and the scrape test, and
# docker-compose (v1, which validates docker-compose.yml without a Docker engine).
test-deps: deps
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing chromium (Debian package, for the Connector Logs page test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi
	@if [ ! -x $(PROMETHEUS) ] || [ ! -x $(DOCKER_COMPOSE_V1) ]; then \
		echo "installing prometheus and docker-compose (Debian packages, for the deploy/ tests)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus docker-compose; \
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

# up builds the images and starts docker-compose.yml in the background (PROFILE=demo adds
# the simulators and the demo connectors); down stops it, keeping the data volumes.
# The fetcher's control API wants TRIBUTARY_API_TOKEN in the environment.
up:
	$(COMPOSE) $(if $(PROFILE),--profile $(PROFILE)) up -d --build

down:
	$(COMPOSE) --profile demo down

clean:
	rm -rf $(BIN) $(STATE)
