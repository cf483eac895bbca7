package imap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

// wellFormed are messages go-imap's own extractors read correctly: ours
// must give the same ENVELOPE and BODYSTRUCTURE for them.
var wellFormed = []string{
	"From: Bob <bob@example.org>\r\nTo: a@imap.test, \"C D\" <c@imap.test>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: Mon, 2 Jan 2023 15:04:05 +0100\r\nMessage-ID: <1@x>\r\nIn-Reply-To: <0@x>\r\n\r\nplain\r\nbody\r\n",
	"From: b@example.org\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\npre\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--i\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Language: en, de\r\n\r\n<p>hi</p>\r\n--i--\r\n--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"m.eml\"\r\n\r\nFrom: in@example.org\r\nSubject: inside\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\ninner text\r\n--x--\r\n--o\r\nContent-Type: image/png; name=\"a.png\"\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <img1>\r\nContent-Description: a picture\r\nContent-Location: http://x/a.png\r\n\r\niVBORw0KGgo=\r\n--o--\r\nepilogue\r\n",
	"Subject: no type\r\n\r\njust text",
	"Content-Type: message/rfc822\r\n\r\nSubject: wrapped\r\n\r\ninner\r\n",
}

func TestStructureMatchesGoIMAP(t *testing.T) {
	for i, raw := range wellFormed {
		md := parseMeta([]byte(raw))
		want := imapserver.ExtractBodyStructure(bytes.NewReader([]byte(raw)))
		normalize(want)
		normalize(md.Structure)
		if got, want := dump(md.Structure), dump(want); got != want {
			t.Errorf("message %d: structure\n got %s\nwant %s", i, got, want)
		}
		h, _ := textproto.ReadHeader(bufioReader(raw))
		if env := imapserver.ExtractEnvelope(h); !reflect.DeepEqual(md.Envelope, env) {
			t.Errorf("message %d: envelope\n got %+v\nwant %+v", i, md.Envelope, env)
		}
	}
}

// normalize lower-cases encodings as our parse does (go-imap writes
// them lower-case anyway) and makes empty parameter maps nil.
func normalize(bs goimap.BodyStructure) {
	bs.Walk(func(_ []int, p goimap.BodyStructure) bool {
		switch x := p.(type) {
		case *goimap.BodyStructureSinglePart:
			x.Encoding = strings.ToLower(x.Encoding)
			if len(x.Params) == 0 {
				x.Params = nil
			}
			if x.MessageRFC822 != nil {
				normalize(x.MessageRFC822.BodyStructure)
			}
		case *goimap.BodyStructureMultiPart:
			if x.Extended != nil && len(x.Extended.Params) == 0 {
				x.Extended.Params = nil
			}
		}
		return true
	})
}

// dump shows a structure in full (pointers followed).
func dump(bs goimap.BodyStructure) string {
	b, _ := json.Marshal(toBSNode(bs))
	return string(b)
}

// hostile are the messages of SECURITY.md that no parse of stored mail
// may choke on.
func hostile() map[string][]byte {
	return map[string][]byte{
		"rfc822 bomb 8000 deep":   mailtest.RFC822Bomb(testUser, 8000),
		"multipart 10000 deep":    mailtest.DeepMultipart(testUser, 10000),
		"100k parts":              mailtest.ManyParts(testUser, 100000),
		"300 parts (old guard)":   mailtest.ManyParts(testUser, 300),
		"10 MB header":            mailtest.HugeHeader(testUser, 10<<20),
		"100k To fields":          mailtest.ManyTo(testUser, 100000),
		"multipart, no delimiter": []byte("Subject: x\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n"),
	}
}

// TestFetchHostileStructures stores each hostile message, then fetches
// ENVELOPE, BODYSTRUCTURE, BODY and sections with go-imap's client over a
// real connection: every answer arrives (go-imap panicked writing the
// old guard's structure, and dropped the connection), BODY[] is the
// message byte for byte, and the parse is cached after the first FETCH.
func TestFetchHostileStructures(t *testing.T) {
	ts := newTestServer(t)
	var names []string
	for name, msg := range hostile() {
		if _, err := ts.st.Append(testUser, "INBOX", msg, nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	c := ts.client(t, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for uid := uint32(1); uid <= uint32(len(names)); uid++ {
		uids = append(uids, uid)
	}
	for round := 0; round < 2; round++ {
		msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3, 4, 5, 6, 7), &goimap.FetchOptions{
			UID: true, Envelope: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
			BodySection: []*goimap.FetchItemBodySection{{Peek: true}, {Peek: true, Part: []int{1}}, {Peek: true, Part: []int{1, 1}, Specifier: goimap.PartSpecifierHeader}},
		}).Collect()
		if err != nil || len(msgs) != len(names) {
			t.Fatalf("round %d: FETCH: %v (%d answers)", round, err, len(msgs))
		}
		for _, m := range msgs {
			_, stored, err := ts.st.GetMessage(testUser, "INBOX", uint32(m.UID))
			if err != nil {
				t.Fatal(err)
			}
			if m.Envelope == nil || m.Envelope.Subject == "" || m.BodyStructure == nil {
				t.Errorf("uid %d: envelope %+v structure %v", m.UID, m.Envelope, m.BodyStructure)
			}
			if got := m.FindBodySection(&goimap.FetchItemBodySection{}); !bytes.Equal(got, stored) {
				t.Errorf("uid %d: BODY[] is %d bytes, stored %d", m.UID, len(got), len(stored))
			}
			depth := 0
			walkDepth(m.BodyStructure, 1, &depth)
			if depth > 52 {
				t.Errorf("uid %d: structure %d deep", m.UID, depth)
			}
		}
		// Cached after the first FETCH: never parsed again.
		cached := 0
		ts.st.FetchMessages(testUser, "INBOX", uids, false, func(it *store.FetchItem) error {
			if it.Meta != nil {
				cached++
			}
			return nil
		})
		if cached != len(names) {
			t.Fatalf("round %d: %d of %d parses cached", round, cached, len(names))
		}
	}
	// BODY (not extended) too, and the connection still serves.
	if _, err := c.Fetch(goimap.SeqSetNum(1, 2, 3, 4, 5, 6, 7), &goimap.FetchOptions{BodyStructure: &goimap.FetchItemBodyStructure{}}).Collect(); err != nil {
		t.Fatalf("FETCH BODY: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("connection after the fetches: %v", err)
	}
}

func walkDepth(bs goimap.BodyStructure, d int, max *int) {
	if d > *max {
		*max = d
	}
	switch x := bs.(type) {
	case *goimap.BodyStructureMultiPart:
		for _, c := range x.Children {
			walkDepth(c, d+1, max)
		}
	case *goimap.BodyStructureSinglePart:
		if x.MessageRFC822 != nil {
			walkDepth(x.MessageRFC822.BodyStructure, d+1, max)
		}
	}
}

// TestStaleCachedStructureWritable: a parse cached by an older version
// (the >200 multipart guard stored a part without extension data) is
// repaired when read, so FETCH BODYSTRUCTURE does not make go-imap panic.
func TestStaleCachedStructureWritable(t *testing.T) {
	ts := newTestServer(t)
	old := &meta{Envelope: &goimap.Envelope{Subject: "old"}, HeaderLen: 2,
		Structure: &goimap.BodyStructureSinglePart{Type: "application", Subtype: "octet-stream", Encoding: "7bit", Size: 3}}
	if _, err := ts.st.AppendMeta(testUser, "INBOX", []byte("\r\nabc"), nil, time.Time{}, encodeMeta(old)); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].BodyStructure.MediaType() != "application/octet-stream" {
		t.Fatalf("FETCH BODYSTRUCTURE of an old cached parse: %v %+v", err, msgs)
	}
}

// pythonFetch fetches every message's ENVELOPE, BODYSTRUCTURE and BODY[]
// with imaplib and prints one line per message.
const pythonFetch = `
import imaplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = imaplib.IMAP4_SSL(host, port, ssl_context=ssl._create_unverified_context())
c.login(user, pw)
typ, data = c.select('INBOX'); assert typ == 'OK', data
n = int(data[0])
for i in range(1, n + 1):
    typ, data = c.fetch(str(i), '(ENVELOPE BODYSTRUCTURE BODY.PEEK[])')
    assert typ == 'OK', data
    assert b'BODYSTRUCTURE (' in data[0][0] and b'ENVELOPE (' in data[0][0], data[0][0][:200]
    print("OK", i, len(data[0][1]))
typ, data = c.noop(); assert typ == 'OK'
c.logout()
`

// TestPythonFetchHostile: imaplib reads the hostile messages too.
func TestPythonFetchHostile(t *testing.T) {
	python := testutil.NeedTool(t, "python3")
	ts := newTestServer(t)
	want := map[int]int{}
	i := 0
	for _, msg := range hostile() {
		i++
		if _, err := ts.st.Append(testUser, "INBOX", msg, nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		want[i] = len(msg)
	}
	script := filepath.Join(t.TempDir(), "fetch.py")
	if err := os.WriteFile(script, []byte(pythonFetch), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, ts.tls)
	out, err := exec.Command(python, script, host, port, testUser, testPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	for i, n := range want {
		if !strings.Contains(string(out), fmt.Sprintf("OK %d %d\n", i, n)) {
			t.Errorf("message %d (%d bytes) not fetched whole:\n%s", i, n, out)
		}
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// BenchmarkParseMetaRFC822Bomb is the parse behind the first FETCH
// ENVELOPE/BODYSTRUCTURE of the message/rfc822 bomb at 31, 125 and 250
// KiB (go-imap's extractor took 0.8 s / +21 MiB, 7.8 s / +337 MiB and
// 25 s / +1.4 GiB for these in the server).
func BenchmarkParseMetaRFC822Bomb(b *testing.B) {
	for _, levels := range []int{1000, 4000, 8000} {
		msg := mailtest.RFC822Bomb(testUser, levels)
		b.Run(fmt.Sprintf("%dKiB", len(msg)>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				encodeMeta(parseMeta(msg))
			}
		})
	}
}

// TestSectionsMatchGoIMAP: BODY[section] from the bounded parse is what
// go-imap's extractor gives for well-formed mail.
func TestSectionsMatchGoIMAP(t *testing.T) {
	paths := [][]int{nil, {1}, {2}, {3}, {1, 1}, {1, 2}, {2, 1}, {2, 1, 1}, {4}}
	specs := []goimap.PartSpecifier{goimap.PartSpecifierNone, goimap.PartSpecifierHeader, goimap.PartSpecifierText, goimap.PartSpecifierMIME}
	for i, raw := range wellFormed {
		body := []byte(raw)
		parse := func() *mailparse.Message { return mailparse.Parse(body, mailparse.Limits{}) }
		for _, path := range paths {
			for _, spec := range specs {
				if spec == goimap.PartSpecifierMIME && len(path) == 0 {
					continue
				}
				for _, fields := range [][]string{nil, {"Subject", "from"}} {
					if fields != nil && spec != goimap.PartSpecifierHeader {
						continue
					}
					sec := &goimap.FetchItemBodySection{Part: path, Specifier: spec, HeaderFields: fields}
					got := sectionBytes(body, parse, sec)
					want := imapserver.ExtractBodySection(bytes.NewReader(body), sec)
					if !bytes.Equal(got, want) {
						t.Errorf("message %d BODY[%v %s %v]:\n got %q\nwant %q", i, path, spec, fields, got, want)
					}
				}
			}
		}
	}
}

// TestBinaryMatchesGoIMAP: BINARY[section] (transfer encoding undone)
// is what go-imap's extractor gives for well-formed UTF-8 mail.
func TestBinaryMatchesGoIMAP(t *testing.T) {
	for i, raw := range wellFormed {
		body := []byte(raw)
		m := mailparse.Parse(body, mailparse.Limits{})
		for _, path := range [][]int{nil, {1}, {2}, {3}, {1, 1}, {1, 2}, {2, 1}} {
			sec := &goimap.FetchItemBinarySection{Part: path}
			got := binarySection(m, sec)
			want := imapserver.ExtractBinarySection(bytes.NewReader(body), sec)
			if !bytes.Equal(got, want) {
				t.Errorf("message %d BINARY[%v]:\n got %q\nwant %q", i, path, got, want)
			}
		}
	}
}
