package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/migrate"
	"mmrag/weaviate"
)

// weaviateFlags select a Weaviate knowledge base instead of the embedded
// store: set --weaviate (or $MMRAG_WEAVIATE_URL) and every command that
// reads or writes the knowledge base uses it.
type weaviateFlags struct {
	url, grpc, key, prefix, consistency string
	replication                         int
}

func (w *weaviateFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&w.url, "weaviate", envOr("MMRAG_WEAVIATE_URL", ""), "use the Weaviate server at this URL as the knowledge base ($MMRAG_WEAVIATE_URL)")
	pf.StringVar(&w.grpc, "weaviate-grpc", envOr("MMRAG_WEAVIATE_GRPC", ""), "its gRPC endpoint HOST:PORT (default: the URL's host, port 50051)")
	pf.StringVar(&w.key, "weaviate-key", envOr("MMRAG_WEAVIATE_API_KEY", ""), "its API key ($MMRAG_WEAVIATE_API_KEY)")
	pf.StringVar(&w.prefix, "weaviate-prefix", envOr("MMRAG_WEAVIATE_PREFIX", "Mmrag"), "collection prefix: one prefix is one knowledge base")
	pf.IntVar(&w.replication, "weaviate-replication", 1, "replication factor of new collections")
	pf.StringVar(&w.consistency, "weaviate-consistency", "QUORUM", "consistency level: ONE, QUORUM or ALL")
}

func (w *weaviateFlags) open(ctx context.Context) (*weaviate.Store, error) {
	if w.url == "" {
		return nil, errors.New("no Weaviate URL: set --weaviate or $MMRAG_WEAVIATE_URL")
	}
	cfg := weaviate.Config{URL: w.url, APIKey: w.key, Prefix: w.prefix, Replication: w.replication, Consistency: strings.ToUpper(w.consistency)}
	if w.grpc != "" {
		host, port, ok := strings.Cut(w.grpc, ":")
		if !ok {
			return nil, fmt.Errorf("--weaviate-grpc %q: want HOST:PORT", w.grpc)
		}
		cfg.GRPCHost = host
		if _, err := fmt.Sscan(port, &cfg.GRPCPort); err != nil {
			return nil, fmt.Errorf("--weaviate-grpc %q: bad port", w.grpc)
		}
	}
	return weaviate.Open(ctx, cfg)
}

// openBackend opens the knowledge base the flags select: Weaviate when a
// URL is set, else the embedded store. Every command that reads or writes
// the knowledge base opens it here (migrate opens both).
func (g *globals) openBackend(ctx context.Context) (mmrag.Store, error) {
	if g.weaviate.url != "" {
		return g.weaviate.open(ctx)
	}
	return g.openStore(ctx)
}

// backendName names the knowledge base the flags select, for messages.
func (g *globals) backendName() string {
	if g.weaviate.url != "" {
		return fmt.Sprintf("weaviate %s (prefix %s)", g.weaviate.url, g.weaviate.prefix)
	}
	return g.storeDir()
}

func newMigrateCmd(g *globals) *cobra.Command {
	var to string
	var samples, workers int
	cmd := &cobra.Command{
		Use:   "migrate --to weaviate|sqlite",
		Short: "Copy the knowledge base between the embedded store (--store) and Weaviate (--weaviate)",
		Long: "Copies every document with its items, vectors (of every model) and images, then\n" +
			"verifies counts and a sample of items and vectors. Documents the destination already\n" +
			"holds with the same content are skipped, so an interrupted migration resumes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.weaviate.url == "" {
				return errors.New("migrate: give the Weaviate side with --weaviate URL")
			}
			emb, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer emb.Close()
			wv, err := g.weaviate.open(ctx)
			if err != nil {
				return err
			}
			defer wv.Close()
			var src, dst mmrag.Store
			switch to {
			case "weaviate":
				src, dst = emb, wv
			case "sqlite", "embedded":
				src, dst = wv, emb
			default:
				return fmt.Errorf("--to %q: want weaviate or sqlite", to)
			}
			bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionSetDescription("documents"),
				progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			res, err := migrate.CopyWith(ctx, dst, src, migrate.Options{Workers: workers, Progress: func(done, total int) {
				bar.ChangeMax(total)
				bar.Set(done)
			}})
			bar.Finish()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "copied %d documents (%d already there): %d items, %d vectors, %d images\n", res.Documents, res.Skipped, res.Items, res.Vectors, res.Blobs)
			if err != nil {
				return fmt.Errorf("%w (run again to resume)", err)
			}
			if err := migrate.Verify(ctx, dst, src, samples); err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			fmt.Fprintf(out, "verified: counts equal, %d sampled items with their vectors and images equal\n", samples)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "weaviate", "destination: weaviate or sqlite")
	cmd.Flags().IntVar(&samples, "verify-samples", 50, "items compared field by field after copying")
	cmd.Flags().IntVar(&workers, "workers", 4, "documents copied at once")
	return cmd
}
