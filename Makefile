# gqlauth: `make run` serves on :8080 with SQLite; `make test` runs every test.
GO ?= go
PKGS := ./...

.PHONY: run build test generate migration lint fuzz bench bench-scale node-tools

## run: serve on :8080 (SQLite file gqlauth.db, in-process deny list)
run:
	$(GO) run ./cmd/gqlauth serve

## build: build the binary into ./bin/gqlauth, without its symbol table and DWARF (-s -w, as the
## Dockerfile): the running server maps fewer pages of its file (3.5 MiB less resident when idle)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/gqlauth ./cmd/gqlauth

## test: every test, with the race detector (PostgreSQL and Redis from TEST_DATABASE_URL / TEST_REDIS_URL)
test: node-tools
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## node-tools: install the pinned JavaScript tools the tests drive (examples/ts, npm ci)
node-tools: examples/ts/node_modules/.package-lock.json
examples/ts/node_modules/.package-lock.json: examples/ts/package-lock.json
	npm ci --prefix examples/ts --no-audit --no-fund --loglevel=error

## generate: regenerate ent, gqlgen code, the published SDL, the playground's GraphiQL files (from examples/ts), the example client, then migration files if ent/schema changed (committed; CI checks it is up to date)
generate: node-tools
	cd ent && $(GO) run -mod=mod entc.go
	$(GO) run github.com/99designs/gqlgen generate
	$(GO) run ./cmd/gqlauth-sdl graph/schema.graphql
	$(GO) run ./cmd/gqlauth-playground-assets examples/ts/node_modules internal/server/playground/dist
	cd examples/codegen && $(GO) tool genqlient
	$(GO) run ./ent/migrate/main.go

## migration: write a new migration file per dialect from ent/schema (make migration name=add_x)
migration:
	$(GO) run ./ent/migrate/main.go -name $(or $(name),changes)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run each fuzz target for FUZZTIME (their seed corpora also run in `make test`)
FUZZTIME ?= 20s
FUZZ_TARGETS := ./internal/token:FuzzVerify ./internal/validate:FuzzValidation \
	./internal/server:FuzzDecodeGraphQLRequest ./internal/server:FuzzGraphQLRequestGuard \
	./graph:FuzzLimits ./graph:FuzzFragmentGraphs \
	./internal/password:FuzzPolicy ./internal/mail:FuzzParseURL ./ent/relay:FuzzCursor
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

## bench: micro-benchmarks, then the load benchmark against the floors (needs PostgreSQL and Redis;
## PROFILE=1 saves gqlauth's pprof CPU and alloc profiles in bench/profiles; BENCH_FLAGS passes flags)
BENCHTIME ?= 200ms
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)
	$(GO) build -o bin/gqlauth-bench ./cmd/gqlauth-bench
	bin/gqlauth-bench run $(if $(PROFILE),-profile bench/profiles) $(BENCH_FLAGS)

## bench-scale: users pages at 1k and 1M users, Redis memory of 100k logouts (several minutes)
bench-scale: build
	$(GO) build -o bin/gqlauth-bench ./cmd/gqlauth-bench
	bin/gqlauth-bench scale $(BENCH_FLAGS)
