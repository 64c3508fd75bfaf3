// Command mmrag is a multimodal retrieval-augmented generation tool: it turns
// files into a searchable knowledge base of text and images and answers
// questions from it.
//
// This file wires the pipeline packages together; each subcommand lives in a
// file of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"mmrag/embed"
	"mmrag/hub"
	"mmrag/onnx"
	"mmrag/sqlite"
)

// globals are the flags every command shares.
type globals struct {
	model     string
	ortLib    string
	threads   int
	quantized bool
	store     string
	ann       string // --ann: auto or off
	annEf     int    // --ann-ef
	llm       llmFlags
	weaviate  weaviateFlags
	errw      io.Writer // the running command's stderr, for notes
}

// warn is where notes go: the running command's stderr.
func (g *globals) warn() io.Writer {
	if g.errw != nil {
		return g.errw
	}
	return os.Stderr
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	if err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "mmrag:", safeText(err.Error()))
		os.Exit(1)
	}
}

// exitCode lets a command choose its exit status after printing its own report.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "mmrag",
		Short:         "Multimodal retrieval-augmented generation over your files",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) { g.errw = cmd.ErrOrStderr() }
	pf := root.PersistentFlags()
	pf.StringVar(&g.model, "model", envOr("MMRAG_MODEL", embed.DefaultModel), "CLIP model: a Hugging Face id or a local folder ($MMRAG_MODEL)")
	pf.StringVar(&g.ortLib, "ort-lib", "", "ONNX Runtime shared library (default: $MMRAG_ORT_LIB, then the setup location)")
	pf.IntVar(&g.threads, "threads", 0, "ONNX Runtime threads (0 = all cores)")
	pf.BoolVar(&g.quantized, "quantized", false, "use the model's quantized ONNX graphs")
	pf.StringVar(&g.store, "store", envOr("MMRAG_STORE", ""), "knowledge base directory ($MMRAG_STORE; default: $MMRAG_HOME/kb)")
	pf.StringVar(&g.ann, "ann", envOr("MMRAG_ANN", "auto"), fmt.Sprintf("approximate index for cosine and hybrid search: auto (from %d vectors per model and modality) or off ($MMRAG_ANN)", sqlite.DefaultANNThreshold))
	pf.IntVar(&g.annEf, "ann-ef", 0, fmt.Sprintf("candidates per approximate search: larger finds more of the true best, slower (0 = %d)", sqlite.DefaultANNEfSearch))
	g.llm.register(root)
	g.weaviate.register(root)
	root.AddCommand(newSearchCmd(g), newAskCmd(g), newChatCmd(g), newCaptionCmd(g), newServeCmd(g), newEvalCmd(g), newMigrateCmd(g))
	root.AddCommand(newModelsCmd(g), newTokenizeCmd(g), newEmbedCmd(g), newIngestCmd(g), newLsCmd(g), newRmCmd(g), newStatsCmd(g), newImportCmd(g), newVersionCmd())
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// modelDir resolves --model to a folder without loading anything.
func (g *globals) modelDir() (string, error) {
	return hub.Resolve(onnx.Home(), g.model)
}

// openCLIP loads ONNX Runtime and the CLIP model.
func (g *globals) openCLIP() (*embed.CLIP, error) {
	dir, err := g.modelDir()
	if err != nil {
		return nil, err
	}
	if err := onnx.Init(g.ortLib); err != nil {
		return nil, err
	}
	return embed.Load(dir, embed.Options{ID: g.modelID(), Threads: g.threads, Quantized: g.quantized})
}

// modelID names --model in stored vectors: the hub id, or a local folder's
// absolute path, so "./m" and "m" are one model and never re-embed.
func (g *globals) modelID() string {
	if st, err := os.Stat(g.model); err == nil && st.IsDir() {
		if abs, err := filepath.Abs(g.model); err == nil {
			return abs
		}
	}
	return g.model
}

// storeDir is the knowledge base folder --store names, or the default one.
func (g *globals) storeDir() string {
	if g.store != "" {
		return g.store
	}
	return filepath.Join(onnx.Home(), "kb")
}

// openStore opens (creating if needed) the embedded knowledge base.
func (g *globals) openStore(ctx context.Context) (*sqlite.Store, error) {
	ann := sqlite.ANNOptions{EfSearch: g.annEf}
	switch g.ann {
	case "auto", "":
	case "off":
		ann.Off = true
	default:
		return nil, fmt.Errorf("--ann %q: want auto or off", g.ann)
	}
	if g.annEf < 0 {
		return nil, fmt.Errorf("--ann-ef %d: want 0 or more", g.annEf)
	}
	return sqlite.Open(ctx, g.storeDir(), sqlite.WithANN(ann))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print versions of mmrag and ONNX Runtime",
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "mmrag %s\nONNX Runtime wanted: %s\n", version, onnx.Version)
			if err := onnx.Init(""); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "ONNX Runtime loaded: none (%v)\n", err)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ONNX Runtime loaded: %s from %s\n", onnx.RuntimeVersion(), onnx.LibraryPath())
			return nil
		},
	}
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"
