// Package reportmail is what the daily aggregate reports we send share:
// the mail that carries one (a short text and the gzipped report as a
// base64 attachment: RFC 7489 §7.2.1.1 for DMARC, RFC 8460 §5.3 for
// TLSRPT), and the daily run that sends them from one node of a cluster.
// smtp/dmarcrpt and smtp/tlsrpt build the reports; the callers DKIM-sign
// the mail and queue it.
package reportmail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"
)

// Message is one report mail.
type Message struct {
	From     string // the reporting address
	FromName string // its display name ("DMARC reports")
	To       []string
	Subject  string
	// Host names the sender in the Message-ID (our host name).
	Host string
	// Type is the media type of the whole: multipart/mixed (DMARC) or
	// multipart/report with a report-type (TLSRPT); the boundary is added.
	Type string
	// Header are further fields (TLS-Report-Domain, ...), in order.
	Header [][2]string
	// Text is the human-readable first part.
	Text string
	// Attachment is the gzipped report, its media type and file name.
	Attachment     []byte
	AttachmentType string
	AttachmentName string
}

// Build writes the mail, CRLF line ends, base64 in 76-character lines,
// Auto-Submitted: auto-generated (no auto-replies to it).
func Build(m Message, now time.Time) []byte {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	tp, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	tp.Write([]byte(strings.TrimRight(m.Text, "\r\n") + "\r\n"))
	ap, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {m.AttachmentType + `; name="` + m.AttachmentName + `"`},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {`attachment; filename="` + m.AttachmentName + `"`},
	})
	enc := base64.StdEncoding.EncodeToString(m.Attachment)
	for len(enc) > 76 {
		ap.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	ap.Write([]byte(enc + "\r\n"))
	mw.Close()

	var out bytes.Buffer
	hdr := func(k, v string) { out.WriteString(k + ": " + v + "\r\n") }
	hdr("From", m.FromName+" <"+m.From+">")
	hdr("To", strings.Join(m.To, ", "))
	hdr("Subject", m.Subject)
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<report."+RandomID()+"@"+m.Host+">")
	for _, f := range m.Header {
		hdr(f[0], f[1])
	}
	hdr("Auto-Submitted", "auto-generated")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", m.Type+`; boundary="`+mw.Boundary()+`"`)
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes()
}

// RandomID is 16 random hex digits, for report and message ids.
func RandomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Daily is one kind of daily report.
type Daily struct {
	Job  string // the ClaimDay job ("tls-reports")
	What string // for the log ("TLS reports")
	// Claim says whether this node sends the day's reports (store.ClaimDay:
	// several nodes share one database).
	Claim func(job, day string) (bool, error)
	// Send sends the reports due before now and says how many.
	Send func(ctx context.Context, now time.Time) (int, error)
	// Every is how often Tick runs between days (an hour).
	Every time.Duration
	Tick  func() // nil: nothing
	// Done runs once ctx ends (nil: nothing).
	Done func()
	Log  *slog.Logger
}

// Run sends the reports of past days at start and after each UTC
// midnight (noticed at the next tick), until ctx ends.
func (d Daily) Run(ctx context.Context) {
	if d.Every <= 0 {
		d.Every = time.Hour
	}
	tick := time.NewTicker(d.Every)
	defer tick.Stop()
	lastSent := ""
	for {
		today := time.Now().UTC().Format(time.DateOnly)
		if today != lastSent {
			lastSent = today
			if mine, err := d.Claim(d.Job, today); err != nil {
				d.Log.Error(fmt.Sprintf("claiming the daily %s", d.What), "err", err)
				lastSent = ""
			} else if !mine {
				d.Log.Info(fmt.Sprintf("another node sends today's %s", d.What))
			} else if n, err := d.Send(ctx, time.Now()); err != nil {
				d.Log.Error(fmt.Sprintf("sending %s", d.What), "err", err)
			} else if n > 0 {
				d.Log.Info(fmt.Sprintf("%s queued", d.What), "count", n)
			}
		}
		select {
		case <-ctx.Done():
			if d.Done != nil {
				d.Done()
			}
			return
		case <-tick.C:
			if d.Tick != nil {
				d.Tick()
			}
		}
	}
}
