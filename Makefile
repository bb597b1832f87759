# shoebox: carry Julia packages across an air gap as signed OCI artifacts.
# Run `make help` for the targets.

GO        ?= go
BIN       := bin
TOOLS     := $(CURDIR)/.tools/bin
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME  ?= 10s
PKGS      := ./...
LDFLAGS   := -X github.com/shoebox-jl/shoebox/internal/cli.Version=$(shell git describe --tags --always --dirty 2>/dev/null || echo dev) \
             -X github.com/shoebox-jl/shoebox/internal/cli.Commit=$(shell git rev-parse HEAD 2>/dev/null)

.PHONY: help build test schemas test-short bench fuzz lint e2e tools demo man clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/shoebox
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/shoebox ./cmd/shoebox

# go test's default 10-minute limit per package binary is a hang guard, not
# a speed target: internal/cli's suite under -race needs more than that on
# the shared 2-core machine while a second suite runs beside it.
TEST_TIMEOUT ?= 30m

test: schemas ## run every Go test with the race detector (needs git; npm and the Go module proxy for the SBOM schemas)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

schemas: ## the official CycloneDX 1.6 and SPDX 2.3 JSON schemas pkg/sbom's tests validate against (.tools/schemas)
	bash hack/install-tools.sh schemas

test-short: ## run the Go tests quickly, without -race
	$(GO) test -short -count=1 $(PKGS)

bench: ## run the Go benchmarks (see hack/bench-*.sh for the whole-tool ones)
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 5 $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint: tools ## go mod tidy -diff (must print nothing), go vet and staticcheck
	@$(GO) mod tidy -diff || { echo 'go.mod/go.sum are not tidy: run go mod tidy' >&2; exit 1; }
	$(GO) vet $(PKGS)
	$(TOOLS)/staticcheck $(PKGS)

tools: ## install the lint tools into .tools/bin
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

e2e: build ## interop with real registries and peer tools (installs them: hack/install-tools.sh)
	bash hack/e2e.sh

man: build ## generate the man pages from the commands into bin/man (man -M bin/man shoebox)
	rm -rf $(BIN)/man/man1
	$(BIN)/shoebox gen-man $(BIN)/man/man1

demo: build ## the main job on the embedded default: a local OCI layout, no network
	bash hack/demo.sh

clean: ## remove build outputs
	rm -rf $(BIN)
