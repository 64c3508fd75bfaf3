// Package retrieve owns search: it embeds a question, scores the stored text
// items and image items separately and returns each modality's ranked list
// with every score component, ready for a prompt.
//
// # Scoring modes
//
//   - Reference reproduces the Python reference exactly: the query is CLIP's
//     raw text projection (not normalised), every item of the modality is
//     scored by its dot product with it, the scores become
//     softmax(q·Eᵀ / T) over the whole collection, and the items whose
//     probability reaches the threshold are kept, best first, k at most.
//   - Cosine normalises the query: Score is the cosine similarity, cut by a
//     fixed per-modality threshold that means the same at any corpus size.
//   - Hybrid (the default) fuses, for text items, the dense ranking with the
//     store's BM25 full-text ranking by reciprocal-rank fusion (RRF):
//     score(d) = Σ over both lists of 1 / (RRFK + rank of d in the list).
//     Each list is the best max(4k, 50) items of its kind; dense candidates
//     must pass the cosine threshold, any BM25 match counts; BM25 gets the
//     query without English stop words (see keywordQuery). RRF needs no
//     calibration between BM25's unbounded scores and cosines, and an item
//     found by only one list still ranks (an exact keyword CLIP misses, or a
//     paraphrase BM25 misses). Images are not in the full-text index; they
//     are scored by the reference's softmax with both quirks fixed (unit
//     query, a fixed pool), which keeps its one strength: a figure is shown
//     only when it stands out from its competitors. A vector query has no
//     text for BM25: its text items are ranked by cosine alone.
//
// Within one modality reference and cosine rank identically (softmax is
// monotonic and normalising the query scales every dot product alike); they
// differ only in which items pass the threshold.
//
// # The reference's two quirks, and their fixes
//
//  1. The query is not normalised. Its norm (about 8–10 for CLIP ViT-B/16)
//     multiplies every logit, so it acts as a second, query-dependent
//     temperature: it is why the reference finds any image at threshold
//     0.25 with T = 0.5, and why an image used as a query (norm 1) or a
//     stored vector (--like) yields an almost flat softmax. Fix:
//     Options.NormalizeQuery; then divide T by the typical raw norm (the
//     reference's 0.25 and 0.5 become about 0.03 and 0.06) to keep its
//     sharpness for every query. Hybrid mode always does so for images.
//  2. The threshold's meaning shifts with the collection size: the softmax
//     shares one unit of probability among all N items, so growing the
//     collection with items like those it holds lowers every score and
//     items that passed drop below the threshold (the seed-blog imported
//     twice: the best score halves, 7.1 passages kept become 4.7); at
//     100 000 items almost nothing passes. Fix:
//     Params.Pool = N runs the softmax over only the N best dot products,
//     so a score compares an item with its N nearest competitors, whatever
//     the collection holds. On a collection of at most N items it equals the
//     reference exactly, so Pool 100 for text and 20 for images keep the
//     reference's behaviour on its own corpus (86 passages, 17 figures). It
//     also lets the store keep a top-N heap instead of sorting every item.
//
// Reference scores match a float64 computation on the stored vectors to
// within 1e-6 (measured 1.4e-7 on the seed-blog): the kept items are
// rescored in float64, since the store's dot products are float32.
//
// # Why hybrid is the default
//
// Measured on the seed-blog's real CLIP vectors (the package tests log the
// tables). Text: with each figure's caption as the question and its image
// vector as the question's vector, the passages of the figure's section
// rank at MRR 0.74 and recall@5 0.47 in hybrid mode, against 0.62 and 0.40
// by vectors alone (0.81 and 0.41 with the stop words left in BM25's
// query: on 17 questions the difference is noise, while dropping them
// halves BM25's time at 100 000 passages). Figures:
// with each passage's vector (×8.5, a raw projection's norm) as the
// question, the softmax gate shows a figure for 17 of 86 passages, 47% of
// them from the passage's own section, where a cosine cut at 0.25 shows one
// for 80 passages, 16% from the own section. The seed-blog is small (86
// passages, 17 figures) and has no real question embeddings (no CLIP text
// tower offline), so these are indications, to be checked by the labelled
// evaluation.
//
// Duplicate figures (one picture stored several times, with one BlobHash)
// are collapsed to their best-scored copy unless Options.KeepDuplicateImages
// is set, and so are passages of the same text (a footer on every page)
// and the items of a document that copies one met before (one content
// hash: a file stored under two paths) unless Options.KeepDuplicatePassages
// is;
// exact reproduction of the reference's lists needs both set.
package retrieve
