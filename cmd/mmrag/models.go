package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"mmrag/embed"
	"mmrag/embed/sbert"
	"mmrag/hub"
	"mmrag/onnx"
)

func newModelsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "models", Short: "Download and list CLIP and text-embedder models"}
	var revision string
	var asJSON bool
	pull := &cobra.Command{
		Use:   "pull [ID | onnx:ID]",
		Short: "Download a model from the Hugging Face hub into the cache (resumable)",
		Long: "Downloads the files a CLIP model needs (ONNX graphs, tokenizer, configs), or with\n" +
			"onnx:ID those of a sentence-transformers text embedder, into $MMRAG_HOME/models.\n" +
			"Without ID: the CLIP model (--model) and the text embedder (--text-embedder, by\n" +
			"default " + defaultTextEmbedder + "). Honours HF_ENDPOINT and HF_TOKEN.\n" +
			"Interrupted downloads resume.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			targets := g.pullTargets(args)
			bars := newBars(cmd.ErrOrStderr())
			c := &hub.Client{Home: onnx.Home(), Progress: bars.update}
			for _, t := range targets {
				m, err := c.Pull(cmd.Context(), t.id, revision, t.files)
				bars.finish()
				if err != nil {
					return err
				}
				state := fmt.Sprintf("%d files fetched", len(m.Fetched))
				if len(m.Fetched) == 0 {
					state = "up to date"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s@%s → %s (%s, %.1f MB)\n", m.ID, short(m.Commit), m.Dir, state, float64(m.Size())/1e6)
			}
			return nil
		},
	}
	pull.Flags().StringVar(&revision, "revision", "main", "branch, tag or commit")

	list := &cobra.Command{
		Use:   "list",
		Short: "List models in the cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			models, err := hub.List(onnx.Home())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if models == nil {
					models = []hub.Model{}
				}
				return enc.Encode(models)
			}
			if len(models) == 0 {
				fmt.Fprintf(out, "no models in %s; fetch one with: mmrag models pull %s\n", onnx.Home(), embed.DefaultModel)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCOMMIT\tSIZE\tPULLED\tPATH")
			for _, m := range models {
				var size int64
				for _, f := range m.Files {
					size += f.Size
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, short(m.Commit), humanBytes(size), m.Pulled.Format(time.DateOnly), m.Dir)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(pull, list)
	return cmd
}

// pullTarget is a model to pull and the files its kind needs.
type pullTarget struct {
	id    string
	files hub.Files
}

// pullTargets turns `models pull` arguments into models: an id (CLIP), an
// onnx:ID (a text embedder), or with none the CLIP model and the
// in-process text embedder in use.
func (g *globals) pullTargets(args []string) []pullTarget {
	if len(args) == 1 {
		if id, ok := strings.CutPrefix(args[0], "onnx:"); ok {
			return []pullTarget{{id, sbert.Files(g.quantized)}}
		}
		return []pullTarget{{args[0], embed.CLIPFiles(g.quantized)}}
	}
	out := []pullTarget{{g.model, embed.CLIPFiles(g.quantized)}}
	text := g.llm.textEmbedder
	if text == "" {
		text = defaultTextEmbedder
	}
	if id, ok := strings.CutPrefix(text, "onnx:"); ok {
		if st, err := os.Stat(id); err != nil || !st.IsDir() { // a local folder needs no pull
			out = append(out, pullTarget{id, sbert.Files(g.quantized)})
		}
	}
	return out
}

func short(commit string) string {
	if len(commit) > 10 {
		return commit[:10]
	}
	return commit
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < 0 {
		return "size unknown"
	}
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// bars draws one progress bar per downloaded file.
type bars struct {
	w   io.Writer
	cur string
	bar *progressbar.ProgressBar
	tty bool
}

func newBars(w io.Writer) *bars {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &bars{w: w, tty: tty}
}

func (b *bars) update(p hub.Progress) {
	if p.File != b.cur {
		b.finish()
		if p.Total >= 0 && p.Done == p.Total {
			// Already in the cache, or complete from an earlier pull: a
			// no-op pull must not look like a download.
			return
		}
		b.cur = p.File
		if !b.tty {
			// Logs get one line per file, not a redraw per chunk.
			if p.Done > 0 {
				fmt.Fprintf(b.w, "resuming %s at %s of %s\n", p.File, humanBytes(p.Done), humanBytes(p.Total))
			} else {
				fmt.Fprintf(b.w, "downloading %s (%s)\n", p.File, humanBytes(p.Total))
			}
			return
		}
		b.bar = progressbar.NewOptions64(p.Total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(p.File),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
		)
	}
	if b.bar != nil {
		_ = b.bar.Set64(p.Done)
	}
}

func (b *bars) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
		b.bar = nil
	}
	b.cur = ""
}
