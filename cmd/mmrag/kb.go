package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/app"
	"mmrag/chunk"
	"mmrag/extract"
	"mmrag/extract/csv"
	"mmrag/extract/html"
	"mmrag/extract/markdown"
	"mmrag/extract/media"
	"mmrag/extract/office"
	"mmrag/extract/pdf"
	"mmrag/extract/picture"
	"mmrag/extract/text"
	"mmrag/ingest"
	"mmrag/sqlite"
)

// This file holds the knowledge-base commands: ingest, ls, rm and stats.

// extractors builds the extractor of every type key ingest.Detect returns.
// Remote images in pages are fetched with the ingest fetcher, so that they
// obey the same limits and address checks as the pages themselves. tr
// transcribes audio and video without subtitles; nil: they get no transcript.
func extractors(f *ingest.Fetcher, tr media.Transcriber, warn io.Writer) map[string]extract.Extractor {
	m := map[string]extract.Extractor{
		ingest.TypeHTML:     html.HTML{Fetch: f.Fetch},
		ingest.TypeMarkdown: markdown.Markdown{Fetch: f.Fetch},
		ingest.TypeText:     text.Text{},
		ingest.TypePDF:      pdf.PDF{}, // OCRs scanned pages when tesseract is installed
		ingest.TypeDOCX:     office.DOCX{},
		ingest.TypePPTX:     office.PPTX{},
		ingest.TypeXLSX:     office.XLSX{},
		ingest.TypeCSV:      csv.CSV{},
		ingest.TypeImage:    picture.Picture{}, // OCRs text in pictures when tesseract is installed
	}
	// Without ffmpeg every audio or video file would fail; leaving the type
	// out makes a walk skip them instead.
	if av := (media.Media{Transcribe: tr}); av.Available() {
		m[ingest.TypeMedia] = av
	} else {
		fmt.Fprintln(warn, "note: ffmpeg/ffprobe not found; audio and video files are skipped")
	}
	if _, err := exec.LookPath("tesseract"); err != nil {
		fmt.Fprintln(warn, "note: tesseract not found; text in images and scanned pages is not recognised")
	}
	return m
}

func newIngestCmd(g *globals) *cobra.Command {
	var (
		walk       ingest.WalkOptions
		fetch      ingest.FetchOptions
		workers    int
		gitignore  bool
		maxFileMiB int64
		limits     ingest.Limits
		verbose    bool
		asJSON     bool
		transcribe string
		collection string
	)
	cmd := &cobra.Command{
		Use:   "ingest PATH|URL|GLOB...",
		Short: "Add files, folders, globs and web pages to the knowledge base",
		Long: "Extracts text and images from each source, chunks and embeds them with CLIP and\n" +
			"stores them. Folders are walked recursively (hidden entries and files matched by\n" +
			".mmragignore are left out); globs may use ** (quote them). Sources already stored\n" +
			"with the same content are skipped; changed ones are replaced, embedding only what\n" +
			"changed. A file whose text, chunks or images pass --max-text-bytes, --max-chunks or\n" +
			"--max-images fails before anything of it is embedded. Progress goes to stderr (for a\n" +
			"big file, or with -v, its stages too). Exit status 1 when any source failed (the\n" +
			"others are stored).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			errw := cmd.ErrOrStderr()
			if cmd.Flags().Changed("collection") {
				var err error
				if collection, err = mmrag.CleanCollectionName(collection); err != nil {
					return fmt.Errorf("--collection: %w", err)
				}
			}
			tr, err := g.llm.transcriber(transcribe)
			if err != nil {
				return err
			}
			s, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			clip, err := g.openCLIP()
			if err != nil {
				return err
			}
			defer clip.Close()
			textEmb, closeText, err := g.ingestModels(ctx, s, clip.ModelID(), errw)
			if err != nil {
				return err
			}
			defer closeText.Close()
			if emb, ok := s.(*sqlite.Store); ok {
				walk.Skip = append(walk.Skip, emb.Dir()) // never ingest the store itself
			}
			if gitignore {
				walk.IgnoreFiles = append(append([]string{}, ingest.DefaultIgnoreFiles...), ".gitignore")
			}
			walk.MaxFileBytes = maxFileMiB << 20
			fetcher := ingest.NewFetcher(fetch)
			p := &ingest.Pipeline{
				Store:      s,
				Embedder:   clip,
				Extractors: extractors(fetcher, tr, errw),
				Chunk:      chunk.Options{Counter: clip.Tokenizer()},
				Fetcher:    fetcher,
				Workers:    workers,
				Limits:     limits,
			}
			svc := &app.Service{Store: s, Pipeline: p}
			if textEmb != nil {
				svc.Text = textEmb
			}
			progress, doneProgress := ingestProgress(errw, verbose)
			rep, err := svc.Ingest(ctx, args, walk, progress)
			doneProgress()
			if collection != "" && len(rep.Documents) > 0 {
				if cerr := g.joinCollection(ctx, collection, rep.Documents); cerr != nil {
					err = errors.Join(err, cerr)
				}
			}
			printSummary(errw, rep.Report)
			if textEmb != nil && err == nil {
				fmt.Fprintf(errw, "%d texts embedded with %s\n", rep.TextEmbedded, textEmb.ModelID())
			}
			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(reportJSON(rep.Report)); err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			if rep.Failed > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&walk.Include, "include", nil, "only files matching these globs (base name, or path under the folder with /; ** allowed)")
	f.StringSliceVar(&walk.Exclude, "exclude", nil, "leave out files and folders matching these globs")
	f.BoolVar(&gitignore, "gitignore", false, "also honour .gitignore files")
	f.BoolVar(&walk.FollowSymlinks, "follow-symlinks", false, "follow symbolic links inside folders")
	f.StringVar(&walk.AssetRoot, "asset-root", "", "folder the documents' local images may come from (default: each folder named, or a file's own folder)")
	f.BoolVar(&walk.Prune, "prune", false, "remove stored documents whose file under a given folder is gone")
	f.Int64Var(&maxFileMiB, "max-file-size", ingest.DefaultMaxFileBytes>>20, "largest file read, MiB")
	f.Int64Var(&limits.MaxTextBytes, ingest.FlagMaxTextBytes, ingest.DefaultMaxTextBytes, "most bytes of text extracted from one file (-1: no limit)")
	f.IntVar(&limits.MaxChunks, ingest.FlagMaxChunks, ingest.DefaultMaxChunks, "most text chunks of one file, checked before embedding (-1: no limit)")
	f.IntVar(&limits.MaxImages, ingest.FlagMaxImages, ingest.DefaultMaxImages, "most images of one file (-1: no limit)")
	f.BoolVar(&fetch.AllowPrivate, "allow-private", false, "let URLs reach private, loopback and link-local addresses")
	f.Int64Var(&fetch.MaxBytes, "max-download", ingest.DefaultFetchMaxBytes, "largest download, bytes")
	f.DurationVar(&fetch.Timeout, "fetch-timeout", ingest.DefaultFetchTimeout, "limit for one download")
	f.IntVar(&workers, "workers", 2, "files extracted at once")
	f.StringVar(&transcribe, "transcribe", envOr("MMRAG_TRANSCRIBE", ""), "transcribe audio and video without subtitles with openai:MODEL (e.g. openai:whisper-1) on the --llm-url server with --llm-key ($MMRAG_TRANSCRIBE)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout (progress stays on stderr)")
	f.StringVar(&collection, "collection", "", "put the documents stored (or found unchanged) in this collection (kept in the knowledge-base folder's "+sqlite.WorkspaceFile+")")
	f.BoolVarP(&verbose, "verbose", "v", false, "also print skipped (unsupported) files and each file as it starts")
	return cmd
}

// bigFile is how many vectors make a file worth progress lines of its own
// (chunked, then embedding every tenth) without --verbose: about a minute
// of embedding on two cores.
const bigFile = 1000

// progressPrinter prints one line per source to w, and for a big file (or
// every file, verbose) its stages: extracted, chunked, embedding n/N every
// tenth. Names and messages from the sources are escaped (safe).
func progressPrinter(w io.Writer, verbose bool) func(ingest.Event) {
	tenths := map[string]int{} // source → tenths of its embedding printed
	return func(e ingest.Event) {
		secs := e.Elapsed.Seconds()
		src := safe(e.Source)
		switch e.Kind {
		case ingest.Added, ingest.Updated:
			delete(tenths, e.Source)
			fmt.Fprintf(w, "%-9s %-8s %4d items (%d embedded) %6.2fs  %s\n", e.Kind, e.Type, e.Items, e.Embedded, secs, src)
		case ingest.Unchanged:
			fmt.Fprintf(w, "%-9s %-8s %4d items %20s  %s\n", e.Kind, e.Type, e.Items, "", src)
		case ingest.Failed:
			delete(tenths, e.Source)
			fmt.Fprintf(w, "%-9s %s\n", e.Kind, safe(ingest.FileError{Source: e.Source, Err: e.Err}.Error()))
		case ingest.Warning:
			fmt.Fprintf(w, "%-9s %s: %s\n", e.Kind, src, safe(e.Message))
		case ingest.Removed:
			fmt.Fprintf(w, "%-9s %-8s %s\n", e.Kind, e.Type, src)
		case ingest.Skipped:
			if verbose {
				fmt.Fprintf(w, "%-9s %s: %s\n", e.Kind, src, safe(e.Message))
			}
		case ingest.Started:
			if verbose {
				fmt.Fprintf(w, "%-9s %-8s %s\n", e.Kind, e.Type, src)
			}
		case ingest.Extracted:
			if verbose {
				fmt.Fprintf(w, "%-9s %-8s %d bytes of text, %d images %6.2fs  %s\n", e.Kind, e.Type, e.TextBytes, e.Images, secs, src)
			}
		case ingest.Chunked:
			if verbose || e.Total >= bigFile {
				fmt.Fprintf(w, "%-9s %-8s %4d items, %d to embed %6.2fs  %s\n", e.Kind, e.Type, e.Items, e.Total, secs, src)
			}
		case ingest.Embedding:
			if t := e.Done * 10 / max(e.Total, 1); (verbose || e.Total >= bigFile) && t > tenths[e.Source] {
				tenths[e.Source] = t
				fmt.Fprintf(w, "%-9s %-8s %d/%d (%d%%) %6.2fs  %s\n", e.Kind, e.Type, e.Done, e.Total, e.Done*100/max(e.Total, 1), secs, src)
			}
		}
	}
}

func printSummary(w io.Writer, r ingest.Report) {
	secs := r.Elapsed.Seconds()
	rate := func(n int) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	fmt.Fprintf(w, "%d files in %.1fs (%.1f files/s): %d added, %d updated, %d unchanged, %d failed",
		r.Files(), secs, rate(r.Files()), r.Added, r.Updated, r.Unchanged, r.Failed)
	if r.Skipped > 0 {
		fmt.Fprintf(w, ", %d skipped", r.Skipped)
	}
	if r.Removed > 0 {
		fmt.Fprintf(w, ", %d removed", r.Removed)
	}
	fmt.Fprintf(w, "\n%d items stored (%.1f items/s), %d vectors computed, %d reused", r.Items, rate(r.Items), r.Embedded, r.Reused)
	if r.Warnings > 0 {
		fmt.Fprintf(w, ", %d warnings", r.Warnings)
	}
	fmt.Fprintln(w)
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "failed:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s\n", safe(e.Error()))
		}
	}
}

// docRow is one document of `mmrag ls --json`.
type docRow struct {
	ID         string            `json:"id"`
	Source     string            `json:"source"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Hash       string            `json:"hash"`
	Size       int64             `json:"size"`
	ModTime    *time.Time        `json:"mod_time,omitempty"`
	Ingested   *time.Time        `json:"ingested,omitempty"`
	TextItems  int               `json:"text_items"`
	ImageItems int               `json:"image_items"`
	Meta       map[string]string `json:"meta,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newLsCmd(g *globals) *cobra.Command {
	var asJSON, withItems bool
	var typ []string
	var prefix string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the documents in the knowledge base",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			filter := mmrag.Filter{Types: typ, SourcePrefix: prefix}
			if withItems {
				return listItems(ctx, s, filter, cmd.OutOrStdout(), asJSON)
			}
			docs, err := s.Documents(ctx, filter)
			if err != nil {
				return err
			}
			counts, err := s.CountItems(ctx, filter)
			if err != nil {
				return err
			}
			rows := make([]docRow, len(docs))
			for i, d := range docs {
				rows[i] = docRow{ID: d.ID, Source: d.Source, Type: d.Type, Title: d.Title, Hash: d.Hash, Size: d.Size,
					ModTime: timePtr(d.ModTime), Ingested: timePtr(d.Ingested), Meta: d.Meta,
					TextItems: counts[d.ID][mmrag.Text], ImageItems: counts[d.ID][mmrag.Image]}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tTEXT\tIMAGES\tTITLE\tSOURCE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", r.ID[:min(12, len(r.ID))], safe(r.Type), r.TextItems, r.ImageItems, cell(r.Title, 50), safe(r.Source))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringSliceVar(&typ, "type", nil, "only documents of these types (html, pdf, …)")
	cmd.Flags().StringVar(&prefix, "source-prefix", "", "only documents whose source starts with this")
	cmd.Flags().BoolVar(&withItems, "items", false, "list the documents' items instead: id, document, modality, section, page, text or caption")
	return cmd
}

// cell shortens s to n runes for a table cell, escaped (safe).
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return safe(s)
	}
	return safe(string(r[:n-1])) + "…"
}

func newRmCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rm ID|SOURCE|FOLDER...",
		Short: "Remove documents (by id or unique id prefix, source path or URL, or every document under a folder)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			failed := false
			for _, ref := range args {
				removed, err := ingest.Remove(ctx, s, []string{ref})
				for _, d := range removed {
					if asJSON {
						json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"removed": d.ID, "source": d.Source})
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s  %s\n", d.ID[:min(12, len(d.ID))], safe(d.Source))
				}
				if err != nil {
					if ctx.Err() != nil {
						return err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), "mmrag rm:", safe(err.Error()))
					failed = true
				}
			}
			if failed {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per removed document")
	return cmd
}

// statsOut is `mmrag stats --json`.
type statsOut struct {
	Store     string         `json:"store"`
	Documents int            `json:"documents"`
	Items     map[string]int `json:"items"`
	Blobs     int            `json:"blobs"`
	BlobBytes int64          `json:"blob_bytes"`
	Models    []modelOut     `json:"models"`
	DBBytes   int64          `json:"db_bytes"`
}

type modelOut struct {
	ID      string         `json:"id"`
	Dim     int            `json:"dim"`
	Vectors map[string]int `json:"vectors"`
}

func newStatsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count what the knowledge base holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			o, err := collectStats(ctx, s, g.backendName())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(o)
			}
			if o.DBBytes > 0 { // the embedded store
				fmt.Fprintf(out, "store      %s (database %.1f MB)\n", o.Store, float64(o.DBBytes)/1e6)
			} else {
				fmt.Fprintf(out, "store      %s\n", o.Store)
			}
			fmt.Fprintf(out, "documents  %d\n", o.Documents)
			fmt.Fprintf(out, "items      %d text, %d image\n", o.Items[string(mmrag.Text)], o.Items[string(mmrag.Image)])
			fmt.Fprintf(out, "images     %d distinct, %.1f MB\n", o.Blobs, float64(o.BlobBytes)/1e6)
			for _, m := range o.Models {
				fmt.Fprintf(out, "model      %s: %d dimensions, %d text + %d image vectors\n", m.ID, m.Dim, m.Vectors[string(mmrag.Text)], m.Vectors[string(mmrag.Image)])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// collectStats counts what s holds; name says which knowledge base it is.
// The embedded store also reports the size of its database files.
func collectStats(ctx context.Context, s mmrag.Store, name string) (statsOut, error) {
	st, err := s.Stats(ctx)
	if err != nil {
		return statsOut{}, err
	}
	models, err := s.Models(ctx)
	if err != nil {
		return statsOut{}, err
	}
	o := statsOut{Store: name, Documents: st.Documents, Items: map[string]int{}, Blobs: st.Blobs, BlobBytes: st.BlobBytes, Models: []modelOut{}}
	for m, n := range st.Items {
		o.Items[string(m)] = n
	}
	for _, m := range models {
		mo := modelOut{ID: m.ID, Dim: m.Dim, Vectors: map[string]int{}}
		for k, n := range m.Vectors {
			mo.Vectors[string(k)] = n
		}
		o.Models = append(o.Models, mo)
	}
	emb, ok := s.(*sqlite.Store)
	if !ok {
		return o, nil
	}
	o.Store = emb.Dir()
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(emb.Dir() + string(os.PathSeparator) + sqlite.DBFile + suffix); err == nil {
			o.DBBytes += fi.Size()
		} else if !errors.Is(err, os.ErrNotExist) {
			return o, err
		}
	}
	return o, nil
}

// reportJSON is `mmrag ingest --json`.
func reportJSON(r ingest.Report) map[string]any {
	errs := []map[string]string{}
	for _, e := range r.Errors {
		errs = append(errs, map[string]string{"source": e.Source, "error": e.Err.Error()})
	}
	warns := []map[string]string{}
	for _, w := range r.WarningList {
		warns = append(warns, map[string]string{"source": w.Source, "warning": w.Message})
	}
	return map[string]any{
		"added": r.Added, "updated": r.Updated, "unchanged": r.Unchanged, "skipped": r.Skipped,
		"failed": r.Failed, "removed": r.Removed, "items": r.Items, "embedded": r.Embedded,
		"reused": r.Reused, "bytes": r.Bytes, "warnings": r.Warnings, "warning_list": warns, "errors": errs,
		"seconds": r.Elapsed.Seconds(),
	}
}
