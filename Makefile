# gqlauth: `make run` serves on :8080 with SQLite; `make test` runs every test.
GO ?= go
PKGS := ./...

.PHONY: run build test generate lint fuzz bench bench-scale

## run: serve on :8080 (SQLite file gqlauth.db, in-process deny list)
run:
	$(GO) run ./cmd/gqlauth serve

## build: build the binary into ./bin/gqlauth
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gqlauth ./cmd/gqlauth

## test: every test, with the race detector (PostgreSQL and Redis from TEST_DATABASE_URL / TEST_REDIS_URL)
test:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## generate: regenerate ent, then gqlgen code (committed; CI checks it is up to date)
generate:
	cd ent && $(GO) run -mod=mod entc.go
	$(GO) run github.com/99designs/gqlgen generate

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

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
