package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"mime/multipart"
	"strings"
	"testing"
)

// bombPNG is a valid PNG header declaring w×h pixels with no pixels
// behind it: a decompression bomb's first bytes.
func bombPNG(t *testing.T, w, h uint32) []byte {
	data := testPNG(t, 1, 1, false)
	ihdr := data[8:] // length, "IHDR", 13 bytes, crc
	binary.BigEndian.PutUint32(ihdr[8:], w)
	binary.BigEndian.PutUint32(ihdr[12:], h)
	binary.BigEndian.PutUint32(ihdr[21:], crc32.ChecksumIEEE(ihdr[4:21]))
	return data
}

// queryForm is a multipart body with the JSON request and an image.
func queryForm(t *testing.T, request string, image []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.WriteField("request", request); err != nil {
		t.Fatal(err)
	}
	if image != nil {
		fw, err := mw.CreateFormFile("image", "query.png")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(image)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func TestSearchByImage(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText}, [2]string{"fig.png", string(testPNG(t, 40, 30, false))})
	png := testPNG(t, 8, 6, false)
	b64 := base64.StdEncoding.EncodeToString(png)

	// JSON with image_base64, plain or as a data: URL.
	for _, img := range []string{b64, "data:image/png;base64," + b64} {
		var res SearchResponse
		decodeRes(t, ts.do(t, "POST", "/v1/search", `{"image_base64":"`+img+`","image_k":3}`), 200, &res)
		got := ts.engine.lastSearch
		if got.Image == nil || got.Image.Bounds().Dx() != 8 || got.Query != "" || got.ImageBase64 != "" || *got.ImageK != 3 {
			t.Errorf("engine got %+v", got)
		}
	}
	// Multipart: the request part and the image file.
	ct, body := queryForm(t, `{"text_k":2}`, png)
	decodeRes(t, ts.do(t, "POST", "/v1/search", body, "Content-Type", ct), 200, nil)
	if got := ts.engine.lastSearch; got.Image == nil || got.Image.Bounds().Dy() != 6 || *got.TextK != 2 {
		t.Errorf("multipart: engine got %+v", got)
	}
	// More like this.
	decodeRes(t, ts.do(t, "POST", "/v1/search", `{"like":"item-1"}`), 200, nil)
	if got := ts.engine.lastSearch; got.Like != "item-1" || got.Image != nil {
		t.Errorf("like: engine got %+v", got)
	}

	// Refusals say why.
	ct2, noImage := queryForm(t, `{"query":"x"}`, []byte("%PDF-1.7 not a picture"))
	ct3, bomb := queryForm(t, `{}`, bombPNG(t, 100000, 100000))
	ct4, noRequest := func() (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, _ := mw.CreateFormFile("image", "q.png")
		fw.Write(png)
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}()
	for _, tt := range []struct {
		name     string
		body     any
		ct       string
		status   int
		contains string
	}{
		{"nothing", `{}`, "", 400, "missing query"},
		{"query and image", `{"query":"x","image_base64":"` + b64 + `"}`, "", 400, "one of"},
		{"image and like", `{"like":"a","image_base64":"` + b64 + `"}`, "", 400, "one of"},
		{"bad base64", `{"image_base64":"***"}`, "", 400, "base64"},
		{"not an image", `{"image_base64":"` + base64.StdEncoding.EncodeToString([]byte("hello, world")) + `"}`, "", 400, "not a picture"},
		{"data URL of text", `{"image_base64":"data:text/plain;base64,aGVsbG8="}`, "", 400, "want an image"},
		{"bomb", `{"image_base64":"` + base64.StdEncoding.EncodeToString(bombPNG(t, 100000, 100000)) + `"}`, "", 400, "over the limit"},
		{"corrupt", `{"image_base64":"` + base64.StdEncoding.EncodeToString(png[:40]) + `"}`, "", 400, "corrupt"},
		{"multipart non-image", noImage, ct2, 400, "not a picture"},
		{"multipart bomb", bomb, ct3, 400, "over the limit"},
		{"multipart without request", noRequest, ct4, 400, "missing request part"},
		{"multipart unknown field", []byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n"), "multipart/form-data; boundary=b", 400, "unknown form field"},
		{"too big", []byte(`{"image_base64":"` + strings.Repeat("A", maxQueryBodyBytes) + `"}`), "application/json", 413, "over"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ct != "" {
				hdr = []string{"Content-Type", tt.ct}
			}
			wantError(t, ts.do(t, "POST", "/v1/search", tt.body, hdr...), tt.status, tt.contains)
		})
	}
}

func TestAskByImage(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText})
	png := testPNG(t, 5, 5, false)
	// No question: the image alone.
	ct, body := queryForm(t, `{}`, png)
	var ans Answer
	decodeRes(t, ts.do(t, "POST", "/v1/ask", body, "Content-Type", ct), 200, &ans)
	if got := ts.engine.lastAsk; got.Image == nil || got.Question != "" {
		t.Errorf("engine got %+v", got)
	}
	decodeRes(t, ts.do(t, "POST", "/v1/ask", `{"question":"what is this?","like":"item-2"}`), 200, nil)
	if got := ts.engine.lastAsk; got.Like != "item-2" || got.Question != "what is this?" {
		t.Errorf("engine got %+v", got)
	}
	wantError(t, ts.do(t, "POST", "/v1/ask", `{}`), 400, "missing question")
	wantError(t, ts.do(t, "POST", "/v1/ask", `{"like":"a","image_base64":"`+base64.StdEncoding.EncodeToString(png)+`"}`), 400, "ask with one")
}

func TestMuxErrorsAreJSON(t *testing.T) {
	ts := newTestServer(t, nil)
	wantError(t, ts.do(t, "GET", "/v1/nothing", nil), 404, "no route GET /v1/nothing")
	wantError(t, ts.do(t, "GET", "/no/such/page", nil), 404, "no route")
	res := ts.do(t, "PUT", "/v1/search", `{}`)
	if allow := res.Header.Get("Allow"); !strings.Contains(allow, "POST") {
		t.Errorf("405 Allow %q, want POST", allow)
	}
	wantError(t, res, 405, "method PUT is not allowed")
	// OpenAI's routes answer in OpenAI's shape.
	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "/v1/chat/completions", 405}, {"DELETE", "/v1/models", 405}, {"GET", "/v1/chat/nothing", 404}} {
		var e struct {
			Error struct {
				Message, Type, Code string
			}
			RequestID string `json:"request_id"`
		}
		res := ts.do(t, tt.method, tt.path, nil)
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
		decodeRes(t, res, tt.status, &e)
		if e.Error.Message == "" || e.Error.Type != "invalid_request_error" || e.RequestID == "" {
			t.Errorf("%s %s: %+v", tt.method, tt.path, e)
		}
	}
}

func TestChatCompletionsPolish(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText}, [2]string{"fig.png", string(testPNG(t, 40, 30, false))})
	q := `"messages":[{"role":"user","content":"What is CLIP?"}]`
	for body, want := range map[string]string{
		`{"model":"mmrag","n":2,` + q + `}`:                                                                                                    "n=2 is not supported",
		`{"model":"mmrag","tools":[{"type":"function","function":{"name":"f"}}],` + q + `}`:                                                    "tools are not supported",
		`{"model":"mmrag","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://evil.example/x.png"}}]}]}`:     "does not fetch",
		`{"model":"mmrag","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}}]}]}`: "not a picture",
	} {
		res := ts.do(t, "POST", "/v1/chat/completions", body)
		var e struct{ Error struct{ Message string } }
		decodeRes(t, res, 400, &e)
		if !strings.Contains(e.Error.Message, want) {
			t.Errorf("%s: %q, want %q", body, e.Error.Message, want)
		}
	}
	// n=1 and an empty tools list are fine; an image alone is a question.
	img := base64.StdEncoding.EncodeToString(testPNG(t, 3, 3, false))
	var c chatResponse
	decodeRes(t, ts.do(t, "POST", "/v1/chat/completions", `{"model":"mmrag","n":1,"tools":[],"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,`+img+`"}}]}]}`, "Host", "localhost:8080"), 200, &c)
	if got := ts.engine.lastAsk; got.Image == nil || got.Question != "" {
		t.Errorf("engine got %+v", got)
	}
	content, _ := c.Choices[0].Message["content"].(string)
	if !strings.Contains(content, "](http://localhost:8080/v1/items/") {
		t.Errorf("answer without an absolute figure link: %q", content)
	}
	if c.Usage == nil || c.Usage.TotalTokens != 15 {
		t.Errorf("usage %+v", c.Usage)
	}

	// Streaming: every chunk has a delta, the last one {}; usage at the end.
	res := ts.do(t, "POST", "/v1/chat/completions", `{"model":"mmrag","stream":true,"stream_options":{"include_usage":true},`+q+`}`)
	raw := string(readAll(t, res))
	var chunks []map[string]any
	for _, line := range strings.Split(raw, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		chunks = append(chunks, m)
	}
	if len(chunks) < 3 || !strings.HasSuffix(strings.TrimSpace(raw), "data: [DONE]") {
		t.Fatalf("stream %q", raw)
	}
	for i, m := range chunks[:len(chunks)-1] {
		choices, _ := m["choices"].([]any)
		if len(choices) != 1 {
			t.Fatalf("chunk %d: %v", i, m)
		}
		if _, ok := choices[0].(map[string]any)["delta"]; !ok {
			t.Errorf("chunk %d has no delta: %v", i, m)
		}
	}
	last := chunks[len(chunks)-2]["choices"].([]any)[0].(map[string]any)
	if d, _ := last["delta"].(map[string]any); d == nil || len(d) != 0 || last["finish_reason"] != "stop" {
		t.Errorf("final chunk %v, want delta {} and finish_reason stop", last)
	}
	if u, _ := chunks[len(chunks)-1]["usage"].(map[string]any); u == nil || u["total_tokens"] != float64(15) {
		t.Errorf("usage chunk %v", chunks[len(chunks)-1])
	}
}
