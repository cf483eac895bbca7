package mailparse

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/charset"
)

// Decoded returns a reader of the part's body with its transfer encoding
// (base64, quoted-printable) undone. An unknown encoding is read as
// written. Decoding streams: it costs no more than the body's size.
func (m *Message) Decoded(p *Part) io.Reader {
	body := bytes.NewReader(m.Body(p))
	switch p.Encoding() {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: body})
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	}
	return body
}

// DecodedText is Decoded converted to UTF-8 from the part's charset (a
// charset go-message does not know is read as written).
func (m *Message) DecodedText(p *Part) io.Reader {
	r := m.Decoded(p)
	cs := strings.ToLower(p.Params["charset"])
	switch cs {
	case "", "utf-8", "us-ascii", "utf8":
		return r
	}
	if cr, err := charset.Reader(cs, r); err == nil {
		return cr
	}
	return r
}

// base64Cleaner drops what is not base64 alphabet (line breaks, spaces,
// junk) so the decoder reads all the good data, as mail readers do.
type base64Cleaner struct {
	r   io.Reader
	buf [4096]byte
}

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(c.buf[:min(len(p), len(c.buf))])
		k := 0
		for _, b := range c.buf[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}
