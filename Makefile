# vmrd: make help lists the targets.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/vmrd
CONFIG ?= configs/vmrd.yaml
export CGO_ENABLED := 1
GOTEST_FLAGS ?=

.PHONY: help setup setup-test build run test test-unit test-e2e test-browser bench soak fuzz lint clean install

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install missing Debian packages to build and run
	@scripts/setup.sh

setup-test: ## install missing Debian packages to build, run and test
	@scripts/setup.sh --test

build: setup ## build bin/vmrd
	go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vmrd

run: build ## build and run vmrd on the sample config (CONFIG=file to change)
	$(BIN) serve --config $(CONFIG)

test: setup-test ## all tests: unit (with the race detector), end to end with real peers, and a 40 s soak
	go vet ./...
	go test -race -count=1 $(GOTEST_FLAGS) ./...
	SOAK_DURATION=40s go test -tags soak -count=1 -run TestSoak ./internal/e2e/

test-unit: setup ## unit tests only
	go test -race -count=1 $(GOTEST_FLAGS) $$(go list ./... | grep -v /internal/e2e)

test-e2e: setup-test ## end-to-end tests with sipp and baresip only
	go test -count=1 -v $(GOTEST_FLAGS) ./internal/e2e/

test-browser: setup-test ## only the browser (WebRTC, headless Chromium) tests; screenshots in TEST_OUTPUT
	go test -count=1 -v -run 'TestBrowser' ./internal/e2e/

bench: setup-test ## benchmarks (mixers, codecs, media, PINs, call rate, PIN attack, video vs ffmpeg, video room CPU); figures in the closing notes
	go test -run '^$$' -bench . -benchmem -count=1 ./internal/codec/ ./mixer/audio/ ./internal/media/
	go test -run '^$$' -bench 'Hash|Check$$' -benchtime 20x -count=1 ./internal/pin/
	go test -run '^$$' -bench 'Tick|WriteFrame' -benchmem -count=1 ./mixer/video/
	go test -run '^$$' -bench 'CompareFFmpeg|Latency' -benchtime 600x -count=3 ./mixer/video/
	go test -count=1 -v -run 'TestBench' -tags bench ./internal/e2e/ ./internal/service/

install: build ## install bin/vmrd, the systemd unit and a sample /etc/vmrd/vmrd.yaml (as root; see deploy/README.md)
	deploy/install.sh $(BIN)

soak: setup-test ## long run with call churn: daemon goroutines, fds and memory must stay flat (SOAK_DURATION=60s)
	SOAK_DURATION=$${SOAK_DURATION:-60s} go test -tags soak -count=1 -v -run TestSoak -timeout 0 ./internal/e2e/

fuzz: setup ## run every fuzz target briefly (FUZZTIME=10s each)
	@scripts/fuzz.sh $${FUZZTIME:-10s}

lint: ## go vet, gofmt, go mod tidy -diff
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go mod tidy -diff

clean: ## remove build output
	rm -rf bin
