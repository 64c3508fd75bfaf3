package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mmrag/imageprep"
	"mmrag/store"
	"mmrag/tokenizer"
)

func newTokenizeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tokenize TEXT...",
		Short: "Print CLIP token ids (one JSON array per text, with start and end tokens, unpadded)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.modelDir()
			if err != nil {
				return err
			}
			tok, err := tokenizer.Load(dir)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, a := range args {
				if err := enc.Encode(tok.Encode(a)); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// embedded is one line of `mmrag embed --json`.
type embedded struct {
	Input  string    `json:"input"` // "text" or "image"
	Text   string    `json:"text,omitempty"`
	Path   string    `json:"path,omitempty"`
	Model  string    `json:"model"`
	Dim    int       `json:"dim"`
	Vector []float32 `json:"vector"`
}

func newEmbedCmd(g *globals) *cobra.Command {
	var texts, images []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "embed [--text T]... [--image FILE]...",
		Short: "Embed texts and images with CLIP and compare them",
		Long: "Prints each input's L2-normalised CLIP vector with --json (one object per line),\n" +
			"else a summary and the cosine similarity of every text with every image.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(texts) == 0 && len(images) == 0 {
				return errors.New("nothing to embed: give --text and/or --image")
			}
			// Bad input fails before the model is loaded, which takes seconds.
			for i, t := range texts {
				if strings.TrimSpace(t) == "" {
					return fmt.Errorf("--text #%d (%q) is empty: nothing to embed", i+1, t)
				}
			}
			imgs := make([]image.Image, len(images))
			for i, p := range images {
				img, err := loadImage(p)
				if err != nil {
					return err
				}
				imgs[i] = img
			}
			clip, err := g.openCLIP()
			if err != nil {
				return err
			}
			defer clip.Close()
			ctx := cmd.Context()
			t0 := time.Now()
			var tv, iv [][]float32
			if len(texts) > 0 {
				if tv, err = clip.EmbedTexts(ctx, texts); err != nil {
					return err
				}
			}
			t1 := time.Now()
			if len(imgs) > 0 {
				if iv, err = clip.EmbedImages(ctx, imgs); err != nil {
					return err
				}
			}
			t2 := time.Now()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				for i, v := range tv {
					if err := enc.Encode(embedded{Input: "text", Text: texts[i], Model: clip.ModelID(), Dim: clip.Dim(), Vector: v}); err != nil {
						return err
					}
				}
				for i, v := range iv {
					if err := enc.Encode(embedded{Input: "image", Path: images[i], Model: clip.ModelID(), Dim: clip.Dim(), Vector: v}); err != nil {
						return err
					}
				}
				return nil
			}
			fmt.Fprintf(out, "model %s, %d dimensions\n", clip.ModelID(), clip.Dim())
			if len(tv) > 0 {
				fmt.Fprintf(out, "%d text(s) in %v\n", len(tv), t1.Sub(t0).Round(time.Millisecond))
			}
			if len(iv) > 0 {
				fmt.Fprintf(out, "%d image(s) in %v\n", len(iv), t2.Sub(t1).Round(time.Millisecond))
			}
			if len(tv) == 0 || len(iv) == 0 {
				return nil
			}
			if len(tv) == 1 && len(iv) == 1 {
				fmt.Fprintf(out, "cosine similarity: %.4f\n", store.Dot(tv[0], iv[0]))
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprint(tw, "cosine\t")
			for _, p := range images {
				fmt.Fprintf(tw, "%s\t", filepath.Base(p))
			}
			fmt.Fprintln(tw)
			for i, t := range texts {
				fmt.Fprintf(tw, "%q\t", t)
				for j := range images {
					fmt.Fprintf(tw, "%.4f\t", store.Dot(tv[i], iv[j]))
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&texts, "text", nil, "text to embed (repeatable)")
	f.StringArrayVar(&images, "image", nil, "image file to embed (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per input with its vector")
	return cmd
}

// loadImage reads and decodes an image file, turned upright by its EXIF
// orientation. Files over imageprep's byte limit are refused before they
// are read, and images whose header declares too many pixels before any
// pixel memory is allocated.
func loadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("image %s: is a directory", path)
	}
	const limit = imageprep.DefaultMaxBytes
	if st.Size() > limit {
		return nil, fmt.Errorf("image %s is too large: %d bytes is over the %d-byte limit", path, st.Size(), limit)
	}
	// The file can grow under us: read at most one byte past the limit and
	// let the decoder refuse it.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	img, _, err := imageprep.DefaultCLIP().Load(data, imageprep.Limits{})
	if errors.Is(err, imageprep.ErrTooLarge) {
		return nil, fmt.Errorf("image %s is too large: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return img, nil
}
