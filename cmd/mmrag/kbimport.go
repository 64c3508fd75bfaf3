package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/rag"
	"mmrag/refkb"
)

// checkModel refuses to put vectors of model id into a knowledge base that
// another CLIP model filled: searches embed the query with one model, so
// documents embedded by another would silently never be found. allowed
// lists other models that may coexist (dedicated text embedders).
func (g *globals) checkModel(ctx context.Context, s mmrag.Store, id string, allowed ...string) error {
	models, err := s.Models(ctx)
	if err != nil {
		return err
	}
	for _, m := range models {
		if m.ID == id || strings.EqualFold(m.ID, id) {
			continue
		}
		n := 0
		for _, c := range m.Vectors {
			n += c
		}
		if n == 0 || slices.Contains(allowed, m.ID) {
			continue
		}
		other := "--store DIR"
		if g.weaviate.url != "" {
			other = "--weaviate-prefix PREFIX"
		}
		return fmt.Errorf("knowledge base %s holds %d vectors of model %q; refusing to add vectors of %q to it "+
			"(queries are embedded with one model): use --model %q, or %s for a new knowledge base",
			g.backendName(), n, m.ID, id, m.ID, other)
	}
	return nil
}

func newImportCmd(g *globals) *cobra.Command {
	var model string
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Import the reference pipeline's knowledge base (JSON + PyTorch .pt vectors)",
		Long: "Reads DIR/data/text_content.json, image_content.json, text_embeddings.pt and\n" +
			"image_embeddings.pt (and the images they name, relative to DIR) and stores them as\n" +
			"documents, one per article, with their original CLIP vectors. The vectors are\n" +
			"stored under --model (default: the CLIP model of this installation, which must be\n" +
			"the one that computed them: openai/clip-vit-base-patch16 for the seed blog). The\n" +
			"text embedder (--text-embedder, or the default one for a new knowledge base) then\n" +
			"embeds the imported passages.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if model == "" {
				model = g.modelID()
			}
			kb, err := refkb.Read(ctx, args[0], refkb.Options{Model: model})
			if err != nil {
				return err
			}
			s, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			textEmb, closeText, err := g.ingestModels(ctx, s, model, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeText.Close()
			out := cmd.OutOrStdout()
			for _, d := range kb.Docs {
				if err := s.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs); err != nil {
					return fmt.Errorf("import %s: %w", d.Doc.Source, err)
				}
				fmt.Fprintf(out, "imported %s  %d items  %s\n", d.Doc.ID[:12], len(d.Items), safe(d.Doc.Title))
			}
			fmt.Fprintln(out, refkb.Summary(kb))
			if textEmb != nil {
				n, err := rag.IndexText(ctx, s, textEmb, []string{model}, nil)
				fmt.Fprintf(cmd.ErrOrStderr(), "%d texts embedded with %s\n", n, textEmb.ModelID())
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "as-model", "", "model id to store the vectors under (default: --model)")
	return cmd
}

// itemRow is one item of `mmrag ls --items --json`.
type itemRow struct {
	ID       string   `json:"id"`
	DocID    string   `json:"doc_id"`
	Modality string   `json:"modality"`
	Kind     string   `json:"kind"`
	Section  []string `json:"section,omitempty"`
	Page     int      `json:"page,omitempty"`
	Text     string   `json:"text,omitempty"`
	Caption  string   `json:"caption,omitempty"`
	Position int      `json:"position"`
}

// listItems prints every item of the documents f selects.
func listItems(ctx context.Context, s mmrag.Store, f mmrag.Filter, out io.Writer, asJSON bool) error {
	var rows []itemRow
	for it, err := range s.ScanItems(ctx, f) {
		if err != nil {
			return err
		}
		rows = append(rows, itemRow{ID: it.ID, DocID: it.DocID, Modality: string(it.Modality), Kind: it.Kind,
			Section: it.Section, Page: it.Page, Text: it.Text, Caption: it.Caption, Position: it.Position})
	}
	if asJSON {
		if rows == nil {
			rows = []itemRow{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDOC\tMODALITY\tSECTION\tPAGE\tTEXT OR CAPTION")
	for _, r := range rows {
		page := ""
		if r.Page > 0 {
			page = fmt.Sprint(r.Page)
		}
		text := r.Text
		if r.Modality == string(mmrag.Image) && r.Caption != "" {
			text = r.Caption
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID[:min(12, len(r.ID))], r.DocID[:min(12, len(r.DocID))], r.Modality,
			cell(strings.Join(r.Section, " › "), 30), page, cell(text, 70))
	}
	return tw.Flush()
}
