package reportmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBuild: the report mail is multipart of the given type with the
// text first and the attachment as base64 in 76-character CRLF lines,
// named, decoding to the bytes given; the headers are all there, the
// extra ones included.
func TestBuild(t *testing.T) {
	att := bytes.Repeat([]byte{0x1f, 0x8b, 0, 1, 2, 3, 0xff}, 100)
	msg := Build(Message{From: "postmaster@a.test", FromName: "TLS reports", To: []string{"x@r.test", "y@r.test"},
		Subject: "Report Domain: b.test", Host: "mx.a.test", Type: `multipart/report; report-type="tlsrpt"`,
		Header: [][2]string{{"TLS-Report-Domain", "b.test"}}, Text: "A report.\r\n",
		Attachment: att, AttachmentType: "application/tlsrpt+gzip", AttachmentName: "mx.a.test!b.test!1!2.json.gz"},
		time.Date(2026, 11, 28, 0, 5, 0, 0, time.UTC))
	if bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("a bare LF in the mail")
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	for k, want := range map[string]string{"From": "TLS reports <postmaster@a.test>", "To": "x@r.test, y@r.test", "Subject": "Report Domain: b.test",
		"TLS-Report-Domain": "b.test", "Auto-Submitted": "auto-generated", "MIME-Version": "1.0", "Date": "Sat, 28 Nov 2026 00:05:00 +0000"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<report.") || !strings.HasSuffix(id, "@mx.a.test>") {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	text, err := mr.NextPart()
	if err != nil || !strings.HasPrefix(text.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("first part: %v %v", text, err)
	}
	if b, _ := io.ReadAll(text); string(b) != "A report.\r\n" {
		t.Errorf("text %q", b)
	}
	ap, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct, p, _ := mime.ParseMediaType(ap.Header.Get("Content-Type")); ct != "application/tlsrpt+gzip" || p["name"] != "mx.a.test!b.test!1!2.json.gz" {
		t.Errorf("attachment type %q", ap.Header.Get("Content-Type"))
	}
	if _, p, _ := mime.ParseMediaType(ap.Header.Get("Content-Disposition")); p["filename"] != "mx.a.test!b.test!1!2.json.gz" {
		t.Errorf("attachment disposition %q", ap.Header.Get("Content-Disposition"))
	}
	raw, _ := io.ReadAll(ap)
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
		if len(line) > 76 {
			t.Fatalf("base64 line of %d characters", len(line))
		}
	}
	got, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if err != nil || !bytes.Equal(got, att) {
		t.Errorf("attachment does not decode to what was given: %v", err)
	}
}

// TestDailyClaims: the reports are sent once a day by the node that
// claims it, not by the others; Done runs when ctx ends.
func TestDailyClaims(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, mine := range []bool{true, false} {
		var sends, claims, done atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		ticks := make(chan struct{}, 1)
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			Daily{Job: "j", What: "test reports", Log: log, Every: time.Millisecond,
				Claim: func(job, day string) (bool, error) {
					claims.Add(1)
					if job != "j" || day != time.Now().UTC().Format(time.DateOnly) {
						t.Errorf("claim of %q %q", job, day)
					}
					return mine, nil
				},
				Send: func(context.Context, time.Time) (int, error) { sends.Add(1); return 1, nil },
				Tick: func() {
					select {
					case ticks <- struct{}{}:
					default:
					}
				},
				Done: func() { done.Add(1) }}.Run(ctx)
		}()
		for range 3 { // a few ticks of the same day send nothing more
			select {
			case <-ticks:
			case <-time.After(10 * time.Second):
				t.Fatal("no tick")
			}
		}
		cancel()
		<-finished
		want := int32(0)
		if mine {
			want = 1
		}
		if claims.Load() != 1 || sends.Load() != want || done.Load() != 1 {
			t.Errorf("mine=%v: %d claims, %d sends, %d done; want 1, %d, 1", mine, claims.Load(), sends.Load(), done.Load(), want)
		}
	}
}
