# mmrag — make setup | build | test | reliability | bench | run
GO      ?= go
BIN     ?= bin/mmrag
MODEL   ?= Xenova/clip-vit-base-patch16
DATA    ?= examples/docs
export MMRAG_REQUIRE_ORT ?=

.PHONY: setup build test test-short bench run fuzz vet lint race clean reliability

## setup: install ONNX Runtime into the cache and fetch Go modules
setup:
	scripts/install-ort.sh
	$(GO) mod download

## build: the mmrag binary in bin/
build:
	CGO_ENABLED=1 $(GO) build -trimpath -o $(BIN) ./cmd/mmrag

## test: the whole suite, real ONNX Runtime required
test: setup
	MMRAG_REQUIRE_ORT=1 $(GO) test -count=1 ./...

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

## lint: gofmt, go vet and staticcheck (pinned; built once into the Go cache) on every package
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt -w these files:"; echo "$$unformatted"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

## race: the packages that run goroutines, timers or locks, under the race detector;
## -short keeps it to a few minutes, -timeout ends a hang
RACE_PKGS ?= ./app/... ./server/... ./sqlite/... ./ingest/... ./embed/... ./onnx/... ./retrieve/... ./rag/... \
	./migrate/... ./hub/... ./ollama/... ./openai/... ./internal/llmclient/... ./store/... ./imageprep/... ./tokenizer/... ./hnsw/...
race: setup
	MMRAG_REQUIRE_ORT=1 CGO_ENABLED=1 $(GO) test -race -short -count=1 -timeout 12m $(RACE_PKGS)

## reliability: bin/mmrag and its store under hostile files, kill -9, two writers, a full
## disk, loopback load and attacks (docs/RELIABILITY.md); e.g. RELIABILITY_FLAGS="-load 5s -kills 3"
reliability: setup build
	$(GO) run ./scripts/reliability -bin $(BIN) $(RELIABILITY_FLAGS)

## bench: embedder speed on true-shape random-weight CLIP graphs (see docs/PERFORMANCE.md)
bench: setup
	scripts/bench.sh

## run: setup, build, fetch the model and embed a text and an image
run: setup build
	scripts/demo.sh "$(MODEL)" "$(DATA)"

fuzz:
	$(GO) test -run XXX -fuzz FuzzEncode -fuzztime 30s ./tokenizer/
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime 30s ./imageprep/

clean:
	rm -rf bin
