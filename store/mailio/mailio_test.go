package mailio

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

func newStore(t *testing.T, users ...string) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddDomain("host.test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := st.AddUser(u, "Usr-pass-k9W!q"); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// The mbox has: a Status/X-Status flagged message with an escaped and an
// unescaped "From " body line (the unescaped one after a blank line), one
// with raw 8-bit UTF-8 and Latin-1 headers, one whose header is garbage,
// and a last one with no trailing newline.
const mboxText = "From alice@example.org Mon Jan  2 15:04:05 2006\n" +
	"From: Alice <alice@example.org>\nTo: ann@host.test\nSubject: first\nStatus: RO\nX-Status: AF\n\n" +
	"Hello\n>From the start of this line, escaped.\n\nFrom my point of view this is body text.\n\n" +
	"From bob@example.org Tue Jan  3 10:00:00 2006\n" +
	"From: bob@example.org\nSubject: Grüße aus Köln\nX-Latin: caf\xe9\n\nbody two\n\n" +
	"From carol Wed Jan  4 11:00:00 2006\n" +
	"this header line has no colon at all\n\nbody\n\n" +
	"From dave@example.org Thu Jan  5 12:00:00 2006\n" +
	"Subject: last\n\nno newline at the end"

func writeFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		os.Chtimes(path, mtime, mtime)
	}
}

type got struct {
	flags []string
	body  string
	date  time.Time
}

func messages(t *testing.T, st *store.Store, addr, box string) []got {
	t.Helper()
	ms, err := st.ListMessages(addr, box)
	if err != nil {
		t.Fatalf("%s: %v", box, err)
	}
	var out []got
	for _, m := range ms {
		b, err := st.Body(m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		f := append([]string{}, m.Flags...)
		if f == nil {
			f = []string{}
		}
		sort.Strings(f)
		out = append(out, got{f, string(b), m.Date})
	}
	return out
}

func TestImportMbox(t *testing.T) {
	st := newStore(t, "ann@host.test")
	path := filepath.Join(t.TempDir(), "Archive.mbox")
	writeFile(t, path, mboxText, time.Time{})
	var last Progress
	sum, err := Import(st, "ann@host.test", path, Options{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 3 || len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0].Source, "message 3") ||
		!strings.Contains(sum.Skipped[0].Reason, "header") {
		t.Fatalf("summary %+v", sum)
	}
	if last.Done != 4 || last.Total != 4 || last.Folder != "Archive" {
		t.Fatalf("progress %+v", last)
	}
	ms := messages(t, st, "ann@host.test", "Archive")
	if len(ms) != 3 {
		t.Fatalf("%d messages", len(ms))
	}
	want0 := "From: Alice <alice@example.org>\r\nTo: ann@host.test\r\nSubject: first\r\nStatus: RO\r\nX-Status: AF\r\n\r\n" +
		"Hello\r\nFrom the start of this line, escaped.\r\n\r\nFrom my point of view this is body text.\r\n"
	if ms[0].body != want0 {
		t.Errorf("message 1 body:\n%q\nwant\n%q", ms[0].body, want0)
	}
	if !reflect.DeepEqual(ms[0].flags, []string{`\Answered`, `\Flagged`, `\Seen`}) {
		t.Errorf("message 1 flags %v", ms[0].flags)
	}
	if d := ms[0].date; !d.Equal(time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)) {
		t.Errorf("message 1 date %v", d)
	}
	if want := "From: bob@example.org\r\nSubject: Grüße aus Köln\r\nX-Latin: caf\xe9\r\n\r\nbody two\r\n"; ms[1].body != want {
		t.Errorf("8-bit message changed: %q", ms[1].body)
	}
	if len(ms[1].flags) != 0 {
		t.Errorf("message 2 flags %v", ms[1].flags)
	}
	if want := "Subject: last\r\n\r\nno newline at the end\r\n"; ms[2].body != want {
		t.Errorf("last message %q", ms[2].body)
	}
}

func TestImportMaildirTree(t *testing.T) {
	st := newStore(t, "ann@host.test")
	root := filepath.Join(t.TempDir(), "Maildir")
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	writeFile(t, filepath.Join(root, "new", "1000.a.host"), "Subject: new one\n\nunread body\n", t0.Add(5*time.Hour))
	writeFile(t, filepath.Join(root, "cur", "1001.b.host:2,RS"), "Subject: replied\n\nbody\n", t0)
	writeFile(t, filepath.Join(root, "cur", "1002.c.host:2,FS"), "Subject: crlf\r\n\r\nno trailing newline", t0.Add(time.Hour))
	writeFile(t, filepath.Join(root, "cur", "1003.d.host:2,"), "Subject: caf\xe9 8-bit\n\nFrom inside the body\n", t0.Add(2*time.Hour))
	writeFile(t, filepath.Join(root, "cur", "1004.e.host:2,S"), "", t0.Add(3*time.Hour))
	writeFile(t, filepath.Join(root, "cur", "1005.f.host:2,S"), "Subject: nul\n\nbin\x00ary\n", t0.Add(4*time.Hour))
	writeFile(t, filepath.Join(root, "tmp", "1006.g.host"), "Subject: half delivered\n\n", t0)
	writeFile(t, filepath.Join(root, "dovecot-uidlist"), "3 V1 N2\n", t0)
	writeFile(t, filepath.Join(root, ".Sent", "cur", "2000.x:2,S"), "Subject: sent\n\nsent body\n", t0)
	writeFile(t, filepath.Join(root, ".Lists.golang", "cur", "3000.y:2,T"), "Subject: list\n\nlist body\n", t0)

	sum, err := Import(st, "ann@host.test", root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 6 || len(sum.Skipped) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	reasons := sum.Skipped[0].Reason + " | " + sum.Skipped[1].Reason
	if !strings.Contains(reasons, "empty") || !strings.Contains(reasons, "NUL") {
		t.Fatalf("skip reasons %q", reasons)
	}
	wantFolders := []FolderCount{{"INBOX", 4}, {"Lists/golang", 1}, {"Sent", 1}}
	if !reflect.DeepEqual(sum.Folders, wantFolders) {
		t.Fatalf("folders %+v", sum.Folders)
	}
	in := messages(t, st, "ann@host.test", "INBOX")
	// Delivery (mtime) order: replied, crlf, 8-bit, new.
	want := []got{
		{[]string{`\Answered`, `\Seen`}, "Subject: replied\r\n\r\nbody\r\n", t0},
		{[]string{`\Flagged`, `\Seen`}, "Subject: crlf\r\n\r\nno trailing newline\r\n", t0.Add(time.Hour)},
		{[]string{}, "Subject: caf\xe9 8-bit\r\n\r\nFrom inside the body\r\n", t0.Add(2 * time.Hour)},
		{[]string{}, "Subject: new one\r\n\r\nunread body\r\n", t0.Add(5 * time.Hour)},
	}
	if len(in) != len(want) {
		t.Fatalf("INBOX has %d messages", len(in))
	}
	for i := range want {
		if !reflect.DeepEqual(in[i].flags, want[i].flags) || in[i].body != want[i].body || !in[i].date.Equal(want[i].date) {
			t.Errorf("INBOX %d: got %+v want %+v", i, in[i], want[i])
		}
	}
	if l := messages(t, st, "ann@host.test", "Lists/golang"); len(l) != 1 || !reflect.DeepEqual(l[0].flags, []string{`\Deleted`}) {
		t.Errorf("Lists/golang %+v", l)
	}
	// The default Sent mailbox received the message (no second Sent).
	boxes, _ := st.ListMailboxes("ann@host.test")
	n := 0
	for _, b := range boxes {
		if strings.EqualFold(b.Name, "sent") {
			n++
			if b.Messages != 1 {
				t.Errorf("Sent has %d", b.Messages)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d Sent mailboxes", n)
	}
}

// Export then import into another user gives the same mailboxes.
func TestExportRoundTrip(t *testing.T) {
	st := newStore(t, "ann@host.test", "bob@host.test")
	path := filepath.Join(t.TempDir(), "inbox")
	writeFile(t, path, mboxText, time.Time{})
	if _, err := Import(st, "ann@host.test", path, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureMailbox("ann@host.test", "Projects/2024"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append("ann@host.test", "Projects/2024", []byte("Subject: p\r\n\r\nx\r\n"), []string{`\Draft`, "$Forwarded"}, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export")
	sum, err := Export(st, "ann@host.test", out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 4 {
		t.Fatalf("exported %+v", sum)
	}
	if _, err := Export(st, "ann@host.test", out, nil); err == nil {
		t.Fatal("a second export into the same Maildir was allowed")
	}
	if _, err := Import(st, "bob@host.test", out, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, box := range []string{"INBOX", "Projects/2024"} {
		a, b := messages(t, st, "ann@host.test", box), messages(t, st, "bob@host.test", box)
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d", box, len(a), len(b))
		}
		for i := range a {
			if a[i].body != b[i].body || !reflect.DeepEqual(a[i].flags, b[i].flags) || !a[i].date.Equal(b[i].date) {
				t.Errorf("%s %d: %+v vs %+v", box, i, a[i], b[i])
			}
		}
	}
}

// Over quota, import stops with an error; every stored message is whole.
func TestImportStopsAtQuota(t *testing.T) {
	st := newStore(t, "ann@host.test")
	if err := st.UpdateUser("ann@host.test", func(u *store.User) error { u.Quota = 5000; return nil }); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "From x Mon Jan  2 15:04:05 2006\nSubject: %d\n\n%s\n\n", i, strings.Repeat("y", 1000))
	}
	path := filepath.Join(t.TempDir(), "big.mbox")
	writeFile(t, path, b.String(), time.Time{})
	sum, err := Import(st, "ann@host.test", path, Options{})
	if err == nil || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("no quota error: %v", err)
	}
	ms := messages(t, st, "ann@host.test", "big")
	if len(ms) != sum.Messages || len(ms) == 0 || len(ms) >= 10 {
		t.Fatalf("%d stored, summary %d", len(ms), sum.Messages)
	}
	for _, m := range ms {
		if !bytes.HasSuffix([]byte(m.body), []byte(strings.Repeat("y", 1000)+"\r\n")) {
			t.Fatalf("partial message %q", m.body)
		}
	}
}

func TestImportBadPaths(t *testing.T) {
	st := newStore(t, "ann@host.test")
	dir := t.TempDir()
	notMbox := filepath.Join(dir, "notes.txt")
	writeFile(t, notMbox, "hello\n", time.Time{})
	for _, p := range []string{notMbox, filepath.Join(dir, "missing"), t.TempDir()} {
		if _, err := Import(st, "ann@host.test", p, Options{}); err == nil {
			t.Errorf("import of %s succeeded", p)
		}
	}
	if _, err := Import(st, "nobody@host.test", notMbox, Options{}); err == nil {
		t.Error("import for an unknown user succeeded")
	}
}

// Folder names from file names that are not valid mailbox names are
// repaired, never refused: Latin-1 bytes, "..", wildcards.
func TestImportOddFolderNames(t *testing.T) {
	st := newStore(t, "ann@host.test")
	root := filepath.Join(t.TempDir(), "Maildir")
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	writeFile(t, filepath.Join(root, "cur", "1:2,S"), "Subject: a\n\nx\n", t0)
	writeFile(t, filepath.Join(root, ".Entw\xfcrfe", "cur", "2:2,S"), "Subject: b\n\nx\n", t0)
	writeFile(t, filepath.Join(root, ".a*b%c", "cur", "3:2,"), "Subject: c\n\nx\n", t0)
	writeFile(t, filepath.Join(root, ".x..y", "cur", "4:2,"), "Subject: d\n\nx\n", t0)
	sum, err := Import(st, "ann@host.test", root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 4 {
		t.Fatalf("%+v", sum)
	}
	boxes, _ := st.ListMailboxes("ann@host.test")
	var names []string
	for _, b := range boxes {
		names = append(names, b.Name)
	}
	got := strings.Join(names, "|")
	for _, want := range []string{"Entw_rfe", "a_b_c", "x/y"} {
		if !strings.Contains(got, want) {
			t.Errorf("no mailbox %q in %s", want, got)
		}
	}
}

// A batch over quota stores nothing of itself; the import then stores
// one by one what still fits (checked in TestImportStopsAtQuota).
func TestAppendBatchAllOrNothing(t *testing.T) {
	st := newStore(t, "ann@host.test")
	st.UpdateUser("ann@host.test", func(u *store.User) error { u.Quota = 1000; return nil })
	msgs := []store.ImportMessage{
		{Body: []byte("Subject: 1\r\n\r\n" + strings.Repeat("x", 400) + "\r\n")},
		{Body: []byte("Subject: 2\r\n\r\n" + strings.Repeat("x", 400) + "\r\n")},
		{Body: []byte("Subject: 3\r\n\r\n" + strings.Repeat("x", 400) + "\r\n")},
	}
	if _, err := st.AppendBatch("ann@host.test", "INBOX", msgs); err == nil {
		t.Fatal("batch over quota stored")
	}
	if ms := messages(t, st, "ann@host.test", "INBOX"); len(ms) != 0 {
		t.Fatalf("%d messages of a failed batch stored", len(ms))
	}
	if _, err := st.AppendBatch("ann@host.test", "INBOX", msgs[:2]); err != nil {
		t.Fatal(err)
	}
	if ms := messages(t, st, "ann@host.test", "INBOX"); len(ms) != 2 {
		t.Fatalf("%d messages", len(ms))
	}
}

// Running an import again (after an interruption) adds nothing twice.
func TestImportTwiceAddsNothing(t *testing.T) {
	st := newStore(t, "ann@host.test")
	path := filepath.Join(t.TempDir(), "Archive.mbox")
	writeFile(t, path, mboxText, time.Time{})
	if _, err := Import(st, "ann@host.test", path, Options{}); err != nil {
		t.Fatal(err)
	}
	// Half of a second archive was imported before; the rest comes now.
	more := mboxText + "\n\nFrom eve@example.org Fri Jan  6 12:00:00 2006\nSubject: new\n\nfresh\n"
	writeFile(t, path, more, time.Time{})
	sum, err := Import(st, "ann@host.test", path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 1 || sum.Present != 3 {
		t.Fatalf("second import %+v", sum)
	}
	if ms := messages(t, st, "ann@host.test", "Archive"); len(ms) != 4 {
		t.Fatalf("%d messages after two imports", len(ms))
	}
}
