package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Figure links for other clients. A chat client such as Open WebUI shows
// the figures of an answer by loading the Markdown images it carries,
// without the API token: with a token set, those links are signed. A
// signature opens one item's image (and its thumbnail) until it expires;
// changing the token revokes every link.

// figureLinkTTL is how long a signed figure link opens its image.
const figureLinkTTL = 30 * 24 * time.Hour

// figure is the access of the image route: the token, the session
// cookie, or a valid signed link.
const figure access = api + 1

// signature of item's image links until exp.
func (s *Server) figureSignature(item string, exp int64) string {
	m := hmac.New(sha256.New, []byte(s.cfg.Token))
	m.Write([]byte("mmrag figure link v1\n" + item + "\n" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// signFigure adds a signature to link, an image URL of item from
// imageURLs, when the server has a token.
func (s *Server) signFigure(link, item string, now time.Time) string {
	if s.cfg.Token == "" {
		return link
	}
	exp := now.Add(figureLinkTTL).Unix()
	sep := "?"
	if strings.Contains(link, "?") {
		sep = "&"
	}
	return link + sep + "exp=" + strconv.FormatInt(exp, 10) + "&sig=" + s.figureSignature(item, exp)
}

// signedFigure reports whether r carries a valid, unexpired signature
// for the item its path names.
func (s *Server) signedFigure(r *http.Request) bool {
	q := r.URL.Query()
	sig, expText := q.Get("sig"), q.Get("exp")
	if s.cfg.Token == "" || sig == "" || expText == "" {
		return false
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || time.Now().Unix() > exp {
		return false
	}
	return equal(sig, s.figureSignature(r.PathValue("id"), exp))
}
