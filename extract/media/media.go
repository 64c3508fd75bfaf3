// Package media extracts audio and video files with ffmpeg: metadata,
// still frames, and timed text from subtitles or, through a Transcriber,
// from speech.
package media

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"mmrag/extract"
)

// ErrNoFFmpeg is wrapped by the error Media returns when ffmpeg or ffprobe
// cannot be found.
var ErrNoFFmpeg = errors.New("ffmpeg not found: install ffmpeg (apt-get install ffmpeg) to ingest audio/video")

// Segment is a stretch of recognised speech.
type Segment struct {
	Start, End time.Duration
	Text       string
}

// Transcriber turns speech into timed text. audio is a 16 kHz mono WAV file
// and name a file name for it (services want one); segment times are
// relative to its start. openai.Transcriber speaks OpenAI's API.
type Transcriber interface {
	Transcribe(ctx context.Context, name string, audio []byte) ([]Segment, error)
}

// Media extracts audio and video files with ffmpeg and ffprobe.
//
// ffprobe gives the duration, the streams and the container's tags (title,
// artist, …). A video yields still frames: the file is cut into FrameEvery
// intervals (widened so that there are at most MaxFrames) and the middle of
// each is taken, which avoids the black first frame of a fade-in; a frame
// identical to the one before (a still slide) is dropped. Frames are PNG
// images, at most MaxFrameWidth wide, with Place.Time, Meta["kind"] =
// "frame" and the transcript of their interval as Context.
//
// Text comes from the first text subtitle stream (SRT, ASS, WebVTT,
// mov_text; bitmap subtitles cannot be read), else, when Transcribe is set,
// from speech recognition of the audio, sent in pieces of AudioPiece at
// most. Either becomes Transcript blocks of about thirty seconds, one cue per
// line, with Place.Time at their first cue. Meta["transcript"] says which
// ("subtitles" or "speech").
//
// Type is "video" when there is a video stream that is not cover art, else
// "audio". The zero value runs ffmpeg and ffprobe from PATH.
type Media struct {
	FFmpeg, FFprobe string        // programs; empty means "ffmpeg", "ffprobe" from PATH
	FrameEvery      time.Duration // interval between frames; 0 means 10 s
	MaxFrames       int           // 0 means 60; negative means no frames
	MaxFrameWidth   int           // frames wider than this are scaled down; 0 means 1280
	Transcribe      Transcriber   // nil means audio is not transcribed
	// AudioPiece is the longest audio sent in one Transcribe call; 0 means
	// 10 minutes, 19.2 MB of WAV, under the usual 25 MB upload cap.
	AudioPiece time.Duration
	// Timeout bounds each ffmpeg or ffprobe run (the context bounds the
	// whole extraction); 0 means 10 minutes.
	Timeout time.Duration
}

const (
	mediaAudioPiece  = 10 * time.Minute
	mediaBlockSpan   = 30 * time.Second
	mediaBlockChars  = 800
	mediaStderrLimit = 400
)

func (m Media) ffmpeg() string  { return cmp.Or(m.FFmpeg, "ffmpeg") }
func (m Media) ffprobe() string { return cmp.Or(m.FFprobe, "ffprobe") }

// Available reports whether ffmpeg and ffprobe can be found.
func (m Media) Available() bool {
	return m.check() == nil
}

func (m Media) check() error {
	for _, p := range []string{m.ffmpeg(), m.ffprobe()} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%w (%s: %v)", ErrNoFFmpeg, p, err)
		}
	}
	return nil
}

// mediaProbe is the part of ffprobe's JSON that is used.
type mediaProbe struct {
	Streams []struct {
		Index       int               `json:"index"`
		CodecType   string            `json:"codec_type"`
		CodecName   string            `json:"codec_name"`
		Width       int               `json:"width"`
		Height      int               `json:"height"`
		Disposition map[string]int    `json:"disposition"`
		Tags        map[string]string `json:"tags"`
	} `json:"streams"`
	Format struct {
		FormatName string            `json:"format_name"`
		Duration   string            `json:"duration"`
		Tags       map[string]string `json:"tags"`
	} `json:"format"`
}

// mediaNoiseTags are container tags that say nothing about the content.
var mediaNoiseTags = map[string]bool{
	"encoder": true, "major_brand": true, "minor_version": true, "compatible_brands": true, "handler_name": true,
	"vendor_id": true, "duration": true,
}

// mediaTextSubtitles are the subtitle codecs ffmpeg can turn into SRT.
var mediaTextSubtitles = map[string]bool{
	"subrip": true, "srt": true, "ass": true, "ssa": true, "webvtt": true, "mov_text": true, "text": true,
	"microdvd": true, "subviewer": true, "subviewer1": true, "sami": true, "realtext": true, "jacosub": true,
	"mpl2": true, "pjs": true, "stl": true, "vplayer": true,
}

// Extract implements Extractor.
func (m Media) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	name := src.Name()
	if err := extract.Interrupted(ctx, name); err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(src.Data) == 0 {
		return nil, fmt.Errorf("%s: empty file", name)
	}
	// ffmpeg needs a seekable file: MP4 keeps its index at the end.
	dir, err := os.MkdirTemp("", "mmrag-media-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	file, err := mediaCopy(dir, src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	probe, err := m.probe(ctx, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res := &extract.Result{Type: "audio", Title: src.FileTitle(), Meta: map[string]string{}}
	st := probe.describe(res)
	if !st.hasVideo && !st.hasAudio {
		return nil, fmt.Errorf("%s: no audio or video stream (format %s)", name, probe.Format.FormatName)
	}
	if st.hasVideo {
		res.Type = "video"
	}
	segs, err := m.speech(ctx, file, src, st, res)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res.Blocks = mediaBlocks(segs)
	if st.hasVideo {
		if err := m.frames(ctx, file, st.dur, segs, res); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(res.Blocks) == 0 && len(res.Images) == 0 {
		res.Warnings = append(res.Warnings, "no text or frames extracted")
	}
	return res, nil
}

// mediaCopy writes the source into dir, keeping a plausible extension (a
// hint for ffmpeg), and returns the file's path.
func mediaCopy(dir string, src extract.Source) (string, error) {
	ext := strings.ToLower(filepath.Ext(src.Path))
	if len(ext) > 8 || strings.ContainsAny(ext, "?#&/\\") {
		ext = ""
	}
	file := filepath.Join(dir, "input"+ext)
	return file, os.WriteFile(file, src.Data, 0o600)
}

// probe runs ffprobe on file.
func (m Media) probe(ctx context.Context, file string) (*mediaProbe, error) {
	out, err := m.run(ctx, m.ffprobe(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", file)
	if err != nil {
		return nil, fmt.Errorf("not a readable audio or video file: %w", err)
	}
	var probe mediaProbe
	if err := json.Unmarshal(out, &probe); err != nil {
		return nil, fmt.Errorf("ffprobe output: %w", err)
	}
	return &probe, nil
}

// mediaStreams is what the streams of a file are.
type mediaStreams struct {
	dur                time.Duration // 0: unknown
	hasVideo, hasAudio bool          // cover art is not video
	sub                int           // the subtitle stream to read, -1: none
}

// describe sets res's title and metadata from the container's tags and
// streams, and returns what the streams are.
func (p *mediaProbe) describe(res *extract.Result) mediaStreams {
	for k, v := range p.Format.Tags {
		k = strings.ToLower(k)
		if v = strings.TrimSpace(v); v != "" && !mediaNoiseTags[k] {
			res.Meta[k] = v
		}
	}
	if t := res.Meta["title"]; t != "" {
		res.Title = t
	}
	res.Meta["format"] = p.Format.FormatName
	st := mediaStreams{sub: -1}
	if f, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil && f > 0 && f < 1e7 {
		st.dur = time.Duration(f * float64(time.Second))
		res.Meta["duration"] = strconv.FormatFloat(f, 'f', 3, 64)
	}
	subN, subDefault := 0, false
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if s.Disposition["attached_pic"] == 1 {
				continue // cover art of a song
			}
			if !st.hasVideo {
				res.Meta["video_codec"] = s.CodecName
				res.Meta["width"], res.Meta["height"] = strconv.Itoa(s.Width), strconv.Itoa(s.Height)
			}
			st.hasVideo = true
		case "audio":
			if !st.hasAudio {
				res.Meta["audio_codec"] = s.CodecName
			}
			st.hasAudio = true
		case "subtitle":
			// The first text stream, or the first marked default.
			if mediaTextSubtitles[s.CodecName] && (st.sub < 0 || (!subDefault && s.Disposition["default"] == 1)) {
				st.sub, subDefault = subN, s.Disposition["default"] == 1
				if l := s.Tags["language"]; l != "" {
					res.Meta["language"] = l
				}
			}
			subN++
		}
	}
	return st
}

// speech returns the timed text of the file: its subtitles, else the
// transcript of its audio. A failure that leaves something to index is a
// warning; the error is for one that does not (an audio file's transcription)
// and for the end of ctx.
func (m Media) speech(ctx context.Context, file string, src extract.Source, st mediaStreams, res *extract.Result) ([]Segment, error) {
	switch {
	case st.sub >= 0:
		srt, err := m.run(ctx, m.ffmpeg(), "-v", "error", "-i", file, "-map", "0:s:"+strconv.Itoa(st.sub), "-f", "srt", "pipe:1")
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("subtitles: %v", err))
			return nil, nil
		}
		res.Meta["transcript"] = "subtitles"
		return ParseSRT(string(srt)), nil
	case st.hasAudio && m.Transcribe != nil:
		segs, err := m.transcribe(ctx, file, src, st.dur)
		if err != nil {
			if ctx.Err() != nil || !st.hasVideo {
				// Speech is all an audio file has.
				return nil, fmt.Errorf("transcribe: %w", err)
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("transcribe: %v", err))
			return nil, nil
		}
		res.Meta["transcript"] = "speech"
		return segs, nil
	case st.hasAudio:
		res.Warnings = append(res.Warnings, "speech not transcribed: no transcriber configured")
	}
	return nil, nil
}

// run runs a tool and returns its standard output; the error carries the
// tail of its standard error.
func (m Media) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = nil // ffmpeg reads keys from a terminal stdin otherwise
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s stopped (limit %v): %w", filepath.Base(prog), timeout, ctx.Err())
		}
		// One line, without the "[demuxer @ 0x…]" prefixes and the name of
		// the temporary copy (the caller names the source).
		msg := mediaLogPrefix.ReplaceAllString(stderr.String(), "")
		msg = mediaTempPath.ReplaceAllString(msg, "input")
		msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ; ")), " ")
		msg = strings.Trim(strings.ReplaceAll(msg, " ;", ";"), "; ")
		if len(msg) > mediaStderrLimit {
			msg = "…" + msg[len(msg)-mediaStderrLimit:]
		}
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(prog), err, msg)
	}
	return stdout.Bytes(), nil
}

var (
	mediaTempPath  = regexp.MustCompile(`\S*mmrag-media-[^/\s]*/input[.\w]*`)
	mediaLogPrefix = regexp.MustCompile(`\[[^\]\n]* @ 0x[0-9a-f]+\] *`)
)

// frames adds the still frames of a video.
func (m Media) frames(ctx context.Context, file string, dur time.Duration, segs []Segment, res *extract.Result) error {
	maxFrames := m.MaxFrames
	if maxFrames == 0 {
		maxFrames = 60
	}
	if maxFrames < 0 {
		return nil
	}
	every := m.FrameEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	width := m.MaxFrameWidth
	if width <= 0 {
		width = 1280
	}
	if dur <= 0 {
		dur = 2 * every // unknown length (a stream dump): try the start
	}
	n := int(math.Ceil(float64(dur) / float64(every)))
	if n > maxFrames {
		n = maxFrames
		every = dur / time.Duration(n)
	}
	var last [32]byte
	for i := range max(n, 1) {
		at := time.Duration(i)*every + min(every, dur)/2
		png, err := m.run(ctx, m.ffmpeg(), "-v", "error", "-ss", mediaSeconds(at), "-i", file, "-frames:v", "1",
			"-vf", fmt.Sprintf("scale='min(%d,iw)':-2", width), "-c:v", "png", "-f", "image2pipe", "pipe:1")
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("frame at %v: %v", at, err))
			continue
		}
		if len(png) == 0 { // past the last frame
			continue
		}
		sum := sha256.Sum256(png)
		if sum == last {
			continue
		}
		last = sum
		im := extract.Image{Data: png, MIME: "image/png", Src: fmt.Sprintf("frame@%s", mediaSeconds(at)),
			Meta: map[string]string{"kind": "frame"}, Place: extract.Place{Time: at}}
		if cfg, err := mediaPNGConfig(png); err == nil {
			im.Width, im.Height = cfg.Width, cfg.Height
		}
		im.Context = extract.Clip(mediaTextBetween(segs, at-every/2, at+every/2), 500)
		res.Images = append(res.Images, im)
	}
	return nil
}

func mediaPNGConfig(b []byte) (image.Config, error) {
	return png.DecodeConfig(bytes.NewReader(b))
}

// mediaSeconds formats a time for ffmpeg: seconds with milliseconds.
func mediaSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// mediaTextBetween joins the segments that overlap [from, to).
func mediaTextBetween(segs []Segment, from, to time.Duration) string {
	var parts []string
	for _, s := range segs {
		end := max(s.End, s.Start)
		if s.Start < to && end > from {
			parts = append(parts, s.Text)
		}
	}
	return strings.Join(parts, " ")
}

// transcribe sends the audio in pieces and shifts segment times to the
// whole file.
func (m Media) transcribe(ctx context.Context, file string, src extract.Source, dur time.Duration) ([]Segment, error) {
	base := src.FileTitle()
	if base == "" {
		base = "audio"
	}
	piece := m.AudioPiece
	if piece <= 0 {
		piece = mediaAudioPiece
	}
	pieces := 1
	if dur > piece {
		pieces = int(math.Ceil(float64(dur) / float64(piece)))
	}
	var out []Segment
	for i := range pieces {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Duration(i) * piece
		args := []string{"-v", "error"}
		if pieces > 1 {
			args = append(args, "-ss", mediaSeconds(start), "-t", mediaSeconds(piece))
		}
		args = append(args, "-i", file, "-vn", "-ac", "1", "-ar", "16000", "-f", "wav", "pipe:1")
		wav, err := m.run(ctx, m.ffmpeg(), args...)
		if err != nil {
			return nil, fmt.Errorf("extract audio: %w", err)
		}
		pname := base + ".wav"
		if pieces > 1 {
			pname = fmt.Sprintf("%s.part%d.wav", base, i+1)
		}
		segs, err := m.Transcribe.Transcribe(ctx, pname, wav)
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			s.Start += start
			s.End += start
			out = append(out, s)
		}
	}
	return out, nil
}

// mediaBlocks groups timed text into Transcript blocks of about
// mediaBlockSpan, one segment per line. Repeats of the previous line (roll-up
// captions) are dropped.
func mediaBlocks(segs []Segment) []extract.Block {
	var out []extract.Block
	var lines []string
	var start time.Duration
	prev := ""
	flush := func() {
		if len(lines) > 0 {
			out = append(out, extract.Block{Kind: extract.Transcript, Text: strings.Join(lines, "\n"), Place: extract.Place{Time: start}})
		}
		lines = nil
	}
	size := 0
	for _, s := range segs {
		t := strings.Join(strings.Fields(s.Text), " ")
		if t == "" || t == prev {
			continue
		}
		prev = t
		if len(lines) > 0 && (s.Start-start >= mediaBlockSpan || size+len(t) > mediaBlockChars) {
			flush()
		}
		if len(lines) == 0 {
			start, size = s.Start, 0
		}
		lines = append(lines, t)
		size += len(t) + 1
	}
	flush()
	return out
}

var (
	mediaSRTTime = regexp.MustCompile(`(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})`)
	mediaTags    = regexp.MustCompile(`</?[a-zA-Z][^>]*>|\{\\[^}]*\}`)
)

// ParseSRT reads SubRip subtitles into segments, dropping formatting tags
// (<i>, <font …>, ASS overrides such as {\an8}) and joining the lines of a
// cue with spaces. Cues without a valid timing line are skipped.
func ParseSRT(s string) []Segment {
	s = strings.TrimPrefix(s, "\ufeff")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(s, "\n")
	var out []Segment
	var cur *Segment
	var text []string
	flush := func() {
		if cur != nil {
			if cur.Text = strings.TrimSpace(strings.Join(text, " ")); cur.Text != "" {
				out = append(out, *cur)
			}
		}
		cur, text = nil, nil
	}
	for i, line := range lines {
		if m := mediaSRTTime.FindStringSubmatch(line); m != nil {
			flush()
			cur = &Segment{Start: mediaSRTDuration(m[1:5]), End: mediaSRTDuration(m[5:9])}
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			flush() // a blank line ends a cue; text after it belongs to none
			continue
		}
		if cur == nil {
			continue
		}
		// The number of the next cue, just before its timing line.
		if i+1 < len(lines) && mediaSRTTime.MatchString(lines[i+1]) {
			if _, err := strconv.Atoi(line); err == nil {
				continue
			}
		}
		if t := strings.TrimSpace(mediaTags.ReplaceAllString(line, "")); t != "" {
			text = append(text, t)
		}
	}
	flush()
	return out
}

func mediaSRTDuration(f []string) time.Duration {
	h, _ := strconv.Atoi(f[0])
	// time.Duration overflows past ~2.5 million hours: no real cue is
	// that late, so clamp rather than wrap to a negative time.
	h = min(max(h, 0), 1_000_000)
	m, _ := strconv.Atoi(f[1])
	s, _ := strconv.Atoi(f[2])
	ms := f[3]
	for len(ms) < 3 {
		ms += "0"
	}
	milli, _ := strconv.Atoi(ms)
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(milli)*time.Millisecond
}
