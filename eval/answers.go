package eval

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"mmrag"
	"mmrag/generate"
	"mmrag/rag"
	"mmrag/retrieve"
)

// Answer metrics.
//
// Retrieval metrics say whether the right items were found; these say what
// a reader gets. Per question, an Answerer returns the context the prompt
// gave the model (its sources), the answer and the prompt's size. Over the
// answerable questions with answer keywords:
//
//   - context recall: the share whose context holds every keyword (the
//     model could answer);
//   - answer recall: the share whose answer holds every keyword and does
//     not abstain;
//   - false abstention: the share of answerable questions whose answer
//     says the documents do not answer.
//
// Over the unanswerable questions, abstention is the share whose answer
// says so. Keywords match case-insensitively, as substrings.

// AnswerOut is what an Answerer produced for one question.
type AnswerOut struct {
	// Context is the sources' text the prompt holds (passages and figure
	// captions), without the question.
	Context string
	Answer  string
	// PromptTokens is the prompt's size.
	PromptTokens int
	// Abstained is set by an answerer that knows it abstained (the
	// extractive answer); otherwise Abstains(Answer) decides.
	Abstained bool
	// Evidence is the extractive answer's support (rag.Answer.Evidence),
	// logged to calibrate its abstention threshold.
	Evidence float64
}

// Answerer answers one question.
type Answerer func(ctx context.Context, question string) (AnswerOut, error)

// AnswerResult is one question's outcome.
type AnswerResult struct {
	ID, Kind string
	// ContextHit and AnswerHit: every keyword is in the context, the
	// answer (questions without keywords: false).
	ContextHit, AnswerHit bool
	// Missing lists the keywords the answer lacks.
	Missing      []string `json:",omitempty"`
	Abstained    bool
	Evidence     float64
	PromptTokens int
	// Repeated is a sentence the answer says twice ("" when none).
	Repeated string `json:",omitempty"`
	Answer   string
	Err      string `json:",omitempty"`
}

// AnswerReport is the outcome of one RunAnswers.
type AnswerReport struct {
	Name string
	Set  string
	// Questions asked; Answerable of them with keywords are the recall's
	// denominators (Measured), Unanswerable the abstention's.
	Questions, Answerable, Measured, Unanswerable int
	ContextRecall, AnswerRecall                   float64
	Abstention, FalseAbstention                   float64
	// MeanPromptTokens and MaxPromptTokens: the prompts' sizes.
	MeanPromptTokens float64
	MaxPromptTokens  int
	// Repeats counts the answers that say a sentence twice.
	Repeats    int
	Failed     int
	FirstError string
	Results    []AnswerResult
}

// RunAnswers asks answer every question of set (which needs no resolving)
// and measures the answers. Answerer errors count the question as missed
// and in Failed; RunAnswers fails only on a cancelled ctx.
func RunAnswers(ctx context.Context, set *Set, answer Answerer) (AnswerReport, error) {
	if set == nil || answer == nil {
		return AnswerReport{}, errors.New("evaluate answers: no set or no answerer")
	}
	rep := AnswerReport{Set: set.Name, Questions: len(set.Questions)}
	var contextHits, answerHits, abstained, falseAbst, tokens int
	for _, q := range set.Questions {
		if err := ctx.Err(); err != nil {
			return AnswerReport{}, fmt.Errorf("evaluate answers %s: %w", set.Name, err)
		}
		res := AnswerResult{ID: q.ID, Kind: q.Kind}
		out, err := answer(ctx, q.Question)
		if err != nil {
			if ctx.Err() != nil {
				return AnswerReport{}, fmt.Errorf("evaluate answers %s: %w", set.Name, ctx.Err())
			}
			res.Err = err.Error()
			rep.Failed++
			if rep.FirstError == "" {
				rep.FirstError = fmt.Sprintf("%s: %v", q.ID, err)
			}
		} else {
			res.Answer = out.Answer
			res.Abstained = out.Abstained || Abstains(out.Answer)
			res.PromptTokens, res.Evidence = out.PromptTokens, out.Evidence
			res.Repeated = RepeatedSentence(out.Answer)
			if len(q.AnswerKeywords) > 0 {
				res.ContextHit = len(missing(out.Context, q.AnswerKeywords)) == 0
				res.Missing = missing(out.Answer, q.AnswerKeywords)
				res.AnswerHit = len(res.Missing) == 0 && !res.Abstained
			}
		}
		tokens += res.PromptTokens
		rep.MaxPromptTokens = max(rep.MaxPromptTokens, res.PromptTokens)
		if res.Repeated != "" {
			rep.Repeats++
		}
		if q.Answerable() {
			rep.Answerable++
			if res.Abstained {
				falseAbst++
			}
			if len(q.AnswerKeywords) > 0 {
				rep.Measured++
				if res.ContextHit {
					contextHits++
				}
				if res.AnswerHit {
					answerHits++
				}
			}
		} else {
			rep.Unanswerable++
			if res.Abstained {
				abstained++
			}
		}
		rep.Results = append(rep.Results, res)
	}
	rep.ContextRecall = ratio(contextHits, rep.Measured)
	rep.AnswerRecall = ratio(answerHits, rep.Measured)
	rep.Abstention = ratio(abstained, rep.Unanswerable)
	rep.FalseAbstention = ratio(falseAbst, rep.Answerable)
	if rep.Questions > 0 {
		rep.MeanPromptTokens = float64(tokens) / float64(rep.Questions)
	}
	return rep, nil
}

// missing returns the keywords text lacks, case-insensitively.
func missing(text string, keywords []string) []string {
	low := strings.ToLower(text)
	var out []string
	for _, k := range keywords {
		if !strings.Contains(low, strings.ToLower(k)) {
			out = append(out, k)
		}
	}
	return out
}

// abstention recognises an answer saying that the documents do not answer:
// the extractive answer's generate.NoAnswer and what language models
// write when told "if the sources do not contain the answer, say so".
var abstention = regexp.MustCompile(`(?i)` + regexp.QuoteMeta(generate.NoAnswer) +
	`|no relevant passages were found` +
	`|\b(documents?|sources?|context|knowledge base|provided (text|information))\b[^.]{0,40}\b(do|does|did)\s*(not|n't)\s+(say|mention|contain|answer|provide|specify|include|hold)` +
	`|\b(is|are)\s+not\s+(mentioned|specified|stated|given|provided)\b` +
	`|\bI (do not|don't) know\b|\bno information (about|on)\b`)

// Abstains reports whether an answer says that the documents do not
// answer the question.
func Abstains(answer string) bool { return abstention.MatchString(answer) }

// citationMark is an answer's [n].
var citationMark = regexp.MustCompile(`\s*\[\d+\]`)

// RepeatedSentence returns a sentence that answer says twice (ignoring
// citations, case and spacing), or "".
func RepeatedSentence(answer string) string {
	seen := map[string]bool{}
	for _, s := range generate.Sentences(citationMark.ReplaceAllString(answer, "")) {
		key := strings.ToLower(strings.Join(strings.Fields(s), " "))
		if len(strings.Fields(key)) < 3 {
			continue // "Figures:", a bare label
		}
		if seen[key] {
			return s
		}
		seen[key] = true
	}
	return ""
}

// Engine evaluates e's answers to each question under search options opt
// (nil: the engine's): the context is the prompt's sources (passages and
// captions as the prompt shows them).
func Engine(e *rag.Engine, opt *retrieve.Options) Answerer {
	return func(ctx context.Context, q string) (AnswerOut, error) {
		a, err := e.Ask(ctx, rag.Request{Question: q, Search: opt}, nil, nil)
		if err != nil {
			return AnswerOut{}, err
		}
		var b strings.Builder
		for _, c := range a.Citations {
			if c.Modality == mmrag.Image {
				b.WriteString(c.Caption)
			} else {
				b.WriteString(c.Text)
			}
			b.WriteString("\n\n")
		}
		return AnswerOut{Context: b.String(), Answer: a.Text, PromptTokens: a.PromptTokens, Abstained: a.Abstained, Evidence: a.Evidence}, nil
	}
}

// CompareAnswers renders answer reports as one table, a row per strategy.
func CompareAnswers(reports []AnswerReport) string {
	var b strings.Builder
	b.WriteString("| strategy | answerable (with keywords) | context recall | answer recall | false abstention | unanswerable | abstention | prompt tokens (mean / max) | repeats |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range reports {
		name := r.Name
		if r.Failed > 0 {
			name += fmt.Sprintf(" (%d failed)", r.Failed)
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %.3f | %.3f | %.3f | %d | %.3f | %.0f / %d | %d |\n",
			name, r.Answerable, r.Measured, r.ContextRecall, r.AnswerRecall, r.FalseAbstention,
			r.Unanswerable, r.Abstention, r.MeanPromptTokens, r.MaxPromptTokens, r.Repeats)
	}
	return b.String()
}

// AnswerMisses lists, one line each, the answerable questions whose answer
// lacks a keyword or abstained, and the unanswerable ones answered.
func AnswerMisses(set *Set, r AnswerReport) []string {
	var out []string
	for i, res := range r.Results {
		q := set.Questions[i]
		switch {
		case res.Err != "":
			out = append(out, fmt.Sprintf("%s: error: %s", q.ID, res.Err))
		case !q.Answerable() && !res.Abstained:
			out = append(out, fmt.Sprintf("%s (unanswerable): answered", q.ID))
		case q.Answerable() && res.Abstained:
			out = append(out, fmt.Sprintf("%s: abstained", q.ID))
		case len(res.Missing) > 0:
			ctx := "in context"
			if !res.ContextHit {
				ctx = "not all in context"
			}
			out = append(out, fmt.Sprintf("%s: answer lacks %q (%s)", q.ID, res.Missing, ctx))
		}
		if res.Repeated != "" {
			out = append(out, fmt.Sprintf("%s: repeats %q", q.ID, res.Repeated))
		}
	}
	return slices.Clip(out)
}
