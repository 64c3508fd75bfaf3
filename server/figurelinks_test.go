package server

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignedFigureLinks: with a token set, the figure links of an
// OpenAI-compatible answer open their image without the token (a chat
// client loads them as Markdown images), and nothing else: not a tampered,
// expired or borrowed signature, not another item, not another route.
func TestSignedFigureLinks(t *testing.T) {
	const token = "links-token"
	ts := newTestServer(t, func(c *Config) { c.Token = token })
	ts.upload(t, [2]string{"fig.png", string(testPNG(t, 40, 30, false))})
	var c chatResponse
	decodeRes(t, ts.do(t, "POST", "/v1/chat/completions", `{"model":"mmrag","messages":[{"role":"user","content":"show the figure"}]}`), 200, &c)
	content, _ := c.Choices[0].Message["content"].(string)
	links := regexp.MustCompile(`\((http://[^)]+)\)`).FindAllStringSubmatch(content, -1)
	if len(links) != 2 {
		t.Fatalf("answer %q: want a thumbnail and an image link", content)
	}
	get := func(u string) int {
		t.Helper()
		res, err := http.Get(u) // no token, no cookie
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == 200 && res.Header.Get("Content-Type") != "image/png" && !strings.HasPrefix(res.Header.Get("Content-Type"), "image/") {
			t.Errorf("%s: content type %q", u, res.Header.Get("Content-Type"))
		}
		return res.StatusCode
	}
	for _, l := range links {
		if !strings.Contains(l[1], "sig=") || !strings.Contains(l[1], "exp=") {
			t.Fatalf("link %s is not signed", l[1])
		}
		if got := get(l[1]); got != 200 {
			t.Errorf("signed link %s: %d", l[1], got)
		}
	}
	link := links[1][1]
	item := regexp.MustCompile(`/v1/items/([^/]+)/image`).FindStringSubmatch(link)[1]
	other := "0" + item[1:]
	if other == item {
		other = "1" + item[1:]
	}
	expired := time.Now().Add(-time.Minute).Unix()
	for name, u := range map[string]string{
		"unsigned":      strings.Split(link, "?")[0],
		"tampered":      link[:len(link)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(link, "0")],
		"other item":    strings.Replace(link, item, other, 1),
		"item JSON":     strings.Replace(link, "/image", "", 1),
		"expired":       ts.URL + "/v1/items/" + item + "/image?exp=" + strconv.FormatInt(expired, 10) + "&sig=" + ts.figureSignature(item, expired),
		"later expiry":  regexp.MustCompile(`exp=\d+`).ReplaceAllString(link, "exp=99999999999"),
		"other token's": ts.URL + "/v1/items/" + item + "/image?exp=99999999999&sig=" + (&Server{cfg: Config{Token: "other"}}).figureSignature(item, 99999999999),
	} {
		if got := get(u); got != http.StatusUnauthorized {
			t.Errorf("%s link %s: %d, want 401", name, u, got)
		}
	}

	// Without a token, links stay as they were.
	open := newTestServer(t, nil)
	if got := open.signFigure("/v1/items/x/image", "x", time.Now()); got != "/v1/items/x/image" {
		t.Errorf("no token: %s", got)
	}
}
