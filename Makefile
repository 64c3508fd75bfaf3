# mmrag — make setup | build | test | bench | run
GO      ?= go
BIN     ?= bin/mmrag
MODEL   ?= Xenova/clip-vit-base-patch16
DATA    ?= ../shared/fixtures/seed-blog/local
export MMRAG_REQUIRE_ORT ?=

.PHONY: setup build test test-short bench run fuzz vet clean

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
