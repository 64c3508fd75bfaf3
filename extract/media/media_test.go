package media

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
)

const mediaTestSRT = "1\n00:00:00,200 --> 00:00:00,900\n<i>Hello and welcome</i>\n\n" +
	"2\n00:00:01,200 --> 00:00:01,900\nThis is a test\n\n" +
	"3\n00:00:02,100 --> 00:00:02,800\nGoodbye\n"

// mediaTestFFmpeg runs ffmpeg in dir to make a fixture and returns its bytes.
func mediaTestFFmpeg(t *testing.T, dir, out string, args ...string) []byte {
	t.Helper()
	extracttest.NeedTool(t, "ffmpeg", "ffmpeg")
	extracttest.NeedTool(t, "ffprobe", "ffmpeg")
	cmd := exec.Command("ffmpeg", append(append([]string{"-v", "error", "-y"}, args...), out)...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, msg)
	}
	data, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mediaTestVideo is a 3 s test pattern with a tone and, when srt is set,
// a muxed SubRip subtitle stream.
func mediaTestVideo(t *testing.T, srt string) []byte {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=3"}
	maps := []string{"-map", "0:v", "-map", "1:a"}
	if srt != "" {
		if err := os.WriteFile(filepath.Join(dir, "subs.srt"), []byte(srt), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-i", "subs.srt")
		maps = append(maps, "-map", "2:s", "-c:s", "srt", "-metadata:s:s:0", "language=eng")
	}
	args = append(args, maps...)
	args = append(args, "-c:v", "mpeg4", "-c:a", "flac", "-metadata", "title=Test Clip", "-metadata", "artist=Tester")
	return mediaTestFFmpeg(t, dir, "clip.mkv", args...)
}

func TestMediaVideoSubtitles(t *testing.T) {
	data := mediaTestVideo(t, mediaTestSRT)
	res, err := Media{FrameEvery: time.Second}.Extract(context.Background(), extract.Source{Path: "/videos/clip.mkv", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "video" || res.Title != "Test Clip" || res.Meta["artist"] != "Tester" || res.Meta["duration"] != "3.000" ||
		res.Meta["video_codec"] != "mpeg4" || res.Meta["audio_codec"] != "flac" || res.Meta["width"] != "160" ||
		res.Meta["transcript"] != "subtitles" || res.Meta["language"] != "eng" {
		t.Errorf("type %q title %q meta %v", res.Type, res.Title, res.Meta)
	}
	if e, ok := res.Meta["encoder"]; ok {
		t.Errorf("container noise kept: encoder %q", e)
	}
	want := []extract.Block{{Kind: extract.Transcript, Text: "Hello and welcome\nThis is a test\nGoodbye", Place: extract.Place{Time: 200 * time.Millisecond}}}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks %+v, want %+v", res.Blocks, want)
	}
	if len(res.Images) != 3 {
		t.Fatalf("%d frames, want 3 (one a second); warnings %q", len(res.Images), res.Warnings)
	}
	contexts := []string{"Hello and welcome", "This is a test", "Goodbye"}
	for i, im := range res.Images {
		at := time.Duration(i)*time.Second + 500*time.Millisecond
		if im.Time != at || im.Meta["kind"] != "frame" || im.MIME != "image/png" || im.Width != 160 || im.Height != 120 ||
			!strings.HasPrefix(string(im.Data), "\x89PNG") {
			t.Errorf("frame %d: time %v kind %q mime %q %d×%d", i, im.Time, im.Meta["kind"], im.MIME, im.Width, im.Height)
		}
		if im.Context != contexts[i] {
			t.Errorf("frame %d context %q, want %q", i, im.Context, contexts[i])
		}
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}

	// Frames are capped; a negative cap turns them off.
	res, err = Media{FrameEvery: 100 * time.Millisecond, MaxFrames: 2}.Extract(context.Background(), extract.Source{Path: "clip.mkv", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || res.Images[0].Time != 750*time.Millisecond || res.Images[1].Time != 2250*time.Millisecond {
		t.Errorf("capped frames: %d, first at %v", len(res.Images), res.Images[0].Time)
	}
	res, err = Media{MaxFrames: -1}.Extract(context.Background(), extract.Source{Path: "clip.mkv", Data: data})
	if err != nil || len(res.Images) != 0 || len(res.Blocks) != 1 {
		t.Errorf("no frames: err %v, %d images %d blocks", err, len(res.Images), len(res.Blocks))
	}
}

// mediaTestTranscriber is a Transcriber that records each call (the file
// name, and the WAV's channels and sample rate) and answers with fixed
// segments, "Hello there." at 0–1.4 s and "General Kenobi." at 1.5–2.9 s,
// or with err when set. openai's tests check the HTTP client itself.
type mediaTestTranscriber struct {
	mu    sync.Mutex
	calls []map[string]string // "file:name", "file:rate", "file:channels"
	err   error
}

func (f *mediaTestTranscriber) Transcribe(ctx context.Context, name string, wav []byte) ([]Segment, error) {
	got := map[string]string{"file:name": name}
	if len(wav) > 44 && string(wav[:4]) == "RIFF" && string(wav[8:12]) == "WAVE" {
		got["file:channels"] = itoa(int(binary.LittleEndian.Uint16(wav[22:])))
		got["file:rate"] = itoa(int(binary.LittleEndian.Uint32(wav[24:])))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, got)
	if f.err != nil {
		return nil, f.err
	}
	return []Segment{
		{Start: 0, End: 1400 * time.Millisecond, Text: "Hello there."},
		{Start: 1500 * time.Millisecond, End: 2900 * time.Millisecond, Text: "General Kenobi."},
	}, nil
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestMediaTranscribe(t *testing.T) {
	dir := t.TempDir()
	audio := mediaTestFFmpeg(t, dir, "tone.ogg", "-f", "lavfi", "-i", "sine=frequency=300:duration=3", "-ac", "2", "-ar", "44100", "-c:a", "libvorbis")
	tr := &mediaTestTranscriber{}

	res, err := Media{Transcribe: tr}.Extract(context.Background(), extract.Source{Path: "talks/tone.ogg", Data: audio})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "audio" || res.Title != "tone" || res.Meta["transcript"] != "speech" || len(res.Images) != 0 {
		t.Errorf("type %q title %q meta %v, %d images", res.Type, res.Title, res.Meta, len(res.Images))
	}
	want := []extract.Block{{Kind: extract.Transcript, Text: "Hello there.\nGeneral Kenobi."}}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks %+v, want %+v", res.Blocks, want)
	}
	if len(tr.calls) != 1 {
		t.Fatalf("%d calls", len(tr.calls))
	}
	// 16 kHz mono WAV, named after the file.
	wantCall := map[string]string{"file:name": "tone.wav", "file:channels": "1", "file:rate": "16000"}
	if !reflect.DeepEqual(tr.calls[0], wantCall) {
		t.Errorf("call %v\nwant %v", tr.calls[0], wantCall)
	}

	// A video without subtitles is transcribed too, and its frames get
	// the speech of their interval as context.
	video := mediaTestVideo(t, "")
	res, err = Media{Transcribe: tr, FrameEvery: 1500 * time.Millisecond}.Extract(context.Background(), extract.Source{Path: "v.mkv", Data: video})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "video" || len(res.Images) != 2 || res.Images[0].Context != "Hello there." || res.Images[1].Context != "General Kenobi." {
		t.Errorf("type %q, %d frames, contexts %q / %q", res.Type, len(res.Images), mediaTestContext(res, 0), mediaTestContext(res, 1))
	}

	// Service errors: fatal for audio (nothing else to index), a warning
	// for video (frames remain).
	tr.err = errors.New("HTTP 401: Incorrect API key provided")
	_, err = Media{Transcribe: tr}.Extract(context.Background(), extract.Source{Path: "tone.ogg", Data: audio})
	if err == nil || !strings.HasPrefix(err.Error(), "tone.ogg: transcribe") || !strings.Contains(err.Error(), "401") ||
		!strings.Contains(err.Error(), "Incorrect API key") {
		t.Errorf("error %v", err)
	}
	res, err = Media{Transcribe: tr}.Extract(context.Background(), extract.Source{Path: "v.mkv", Data: video})
	if err != nil || len(res.Images) == 0 || !strings.Contains(strings.Join(res.Warnings, ";"), "Incorrect API key") {
		t.Errorf("video with failing transcriber: err %v warnings %v", err, res)
	}

	// No transcriber: the audio is read but yields no text, with a warning.
	res, err = Media{}.Extract(context.Background(), extract.Source{Path: "tone.ogg", Data: audio})
	if err != nil || len(res.Blocks) != 0 || !strings.Contains(strings.Join(res.Warnings, ";"), "no transcriber") {
		t.Errorf("no transcriber: err %v result %+v", err, res)
	}
}

func mediaTestContext(res *extract.Result, i int) string {
	if i < len(res.Images) {
		return res.Images[i].Context
	}
	return "<none>"
}

func TestMediaCoverArt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cover.png"), []byte(extracttest.SolidPNG(t, 32, 32, color.RGBA{1, 2, 3, 255})), 0o644); err != nil {
		t.Fatal(err)
	}
	song := mediaTestFFmpeg(t, dir, "song.mp3", "-f", "lavfi", "-i", "sine=duration=2", "-i", "cover.png",
		"-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic", "-metadata", "title=Song")
	res, err := Media{}.Extract(context.Background(), extract.Source{Path: "song.mp3", Data: song})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "audio" || res.Title != "Song" || len(res.Images) != 0 {
		t.Errorf("type %q title %q, %d images: cover art is not video", res.Type, res.Title, len(res.Images))
	}
}

func TestMediaBad(t *testing.T) {
	extracttest.NeedTool(t, "ffprobe", "ffmpeg")
	good := mediaTestVideo(t, "")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"junk", []byte("this is not a video, just text pretending to be one"), "not a readable audio or video file"},
		{"truncated header", good[:64], "not a readable audio or video file"},
		{"empty", nil, "empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Media{}.Extract(context.Background(), extract.Source{Path: "bad.mp4", Data: tt.data})
			if err == nil || res != nil {
				t.Fatalf("result %+v error %v, want an error", res, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bad.mp4: ") || !strings.Contains(msg, tt.want) || strings.Contains(msg, "mmrag-media-") {
				t.Errorf("error %q: want one naming bad.mp4 (not the temporary copy) and %q", msg, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Media{}).Extract(ctx, extract.Source{Path: "c.mkv", Data: good}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestMediaNoFFmpeg(t *testing.T) {
	m := Media{FFmpeg: "mmrag-no-such-ffmpeg"}
	if m.Available() {
		t.Fatal("a missing ffmpeg is available")
	}
	_, err := m.Extract(context.Background(), extract.Source{Path: "a.mp4", Data: []byte("x")})
	if !errors.Is(err, ErrNoFFmpeg) || !strings.HasPrefix(err.Error(), "a.mp4: ffmpeg not found") || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Errorf("error %v", err)
	}
}

func TestParseSRT(t *testing.T) {
	in := "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<font color=\"red\">Red</font> text\r\nsecond line\r\n\r\n" +
		"2\r\n00:01:02.5 --> 00:01:04,000 X1:0 X2:0\r\n{\\an8}42\r\n\r\n" +
		"3\r\n00:01:05,000 --> 00:01:06,000\r\n\r\n" + // empty cue
		"garbage without timing\r\n\r\n" +
		"4\r\n10:00:00,000 --> 10:00:01,000\r\nLast\r\n"
	want := []Segment{
		{Start: time.Second, End: 2500 * time.Millisecond, Text: "Red text second line"},
		{Start: time.Minute + 2500*time.Millisecond, End: time.Minute + 4*time.Second, Text: "42"},
		{Start: 10 * time.Hour, End: 10*time.Hour + time.Second, Text: "Last"},
	}
	if got := ParseSRT(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestMediaBlocks(t *testing.T) {
	var segs []Segment
	for i := range 10 {
		segs = append(segs, Segment{Start: time.Duration(i) * 10 * time.Second, End: time.Duration(i)*10*time.Second + 9*time.Second, Text: "line " + itoa(i)})
		segs = append(segs, Segment{Start: time.Duration(i)*10*time.Second + 5*time.Second, Text: "line " + itoa(i)}) // roll-up repeat
	}
	got := mediaBlocks(segs)
	if len(got) != 4 {
		t.Fatalf("%d blocks, want 4 of 30 s", len(got))
	}
	if got[0].Text != "line 0\nline 1\nline 2" || got[1].Time != 30*time.Second || got[3].Text != "line 9" || got[0].Kind != extract.Transcript {
		t.Errorf("blocks %+v", got)
	}
	long := strings.Repeat("word ", 100)
	got = mediaBlocks([]Segment{{Text: long}, {Start: time.Second, Text: long + "x"}})
	if len(got) != 2 {
		t.Errorf("%d blocks, want the text limit to split", len(got))
	}
}

func TestMediaAudioPieces(t *testing.T) {
	dir := t.TempDir()
	audio := mediaTestFFmpeg(t, dir, "long.flac", "-f", "lavfi", "-i", "sine=duration=5", "-c:a", "flac")
	tr := &mediaTestTranscriber{}
	res, err := Media{Transcribe: tr, AudioPiece: 2 * time.Second}.Extract(
		context.Background(), extract.Source{Path: "long.flac", Data: audio})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range tr.calls {
		names = append(names, c["file:name"])
	}
	if !reflect.DeepEqual(names, []string{"long.part1.wav", "long.part2.wav", "long.part3.wav"}) {
		t.Errorf("pieces %q", names)
	}
	// Each piece answers "Hello there." at 0 s and "General Kenobi." at
	// 1.5 s; times are shifted to the whole file. Repeats of the previous
	// line are kept out; across pieces lines alternate, so all six remain.
	if len(res.Blocks) != 1 || strings.Count(res.Blocks[0].Text, "\n") != 5 || res.Blocks[0].Time != 0 {
		t.Errorf("blocks %+v", res.Blocks)
	}
}

func TestMediaTimeout(t *testing.T) {
	video := mediaTestVideo(t, "")
	_, err := Media{Timeout: time.Nanosecond}.Extract(context.Background(), extract.Source{Path: "slow.mkv", Data: video})
	if err == nil || !strings.HasPrefix(err.Error(), "slow.mkv: ") || !strings.Contains(err.Error(), "stopped (limit 1ns)") {
		t.Errorf("error %v", err)
	}
}

func FuzzParseSRT(f *testing.F) {
	f.Add("\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<font color=\"red\">Red</font> text\r\nsecond line\r\n\r\n" +
		"2\r\n00:01:02.5 --> 00:01:04,000 X1:0 X2:0\r\n{\\an8}42\r\n")
	f.Add("1\n00:00:00,000 --> 00:00:01,000\n\n2\n00:00:01,000 --> 00:00:02,000\n3\n00:00:02,000 --> 00:00:03,000\nx\n")
	f.Add("garbage without timing\n\n<i>\n{\\b1}\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, seg := range ParseSRT(s) {
			if seg.Text == "" || seg.Text != strings.TrimSpace(seg.Text) || strings.Contains(seg.Text, "\n") {
				t.Fatalf("bad segment %+v", seg)
			}
		}
	})
}
