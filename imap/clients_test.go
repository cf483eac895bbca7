package imap

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// pythonClient drives Python's imaplib (a client many scripts use)
// against the server: STARTTLS and IMAPS logins, the commands a script
// uses, and the login rules. It prints "OK" lines the test checks.
const pythonClient = `
import imaplib, ssl, sys
host, plain, tlsport, user, pw, dom, dompw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
ctx = ssl._create_unverified_context()

p = imaplib.IMAP4(host, plain)
assert 'LOGINDISABLED' in p.capabilities, p.capabilities
try:
    p.login(user, pw); print("FAIL login before TLS accepted")
except imaplib.IMAP4.error as e:
    assert 'PRIVACYREQUIRED' in str(e), e
p.starttls(ssl_context=ctx)
typ, _ = p.login(user, pw); assert typ == 'OK'
p.logout()
print("OK starttls")

c = imaplib.IMAP4_SSL(host, tlsport, ssl_context=ctx)
try:
    c.login(dom, dompw); print("FAIL domain login accepted")
except imaplib.IMAP4.error as e:
    assert 'no mailbox' in str(e), e
print("OK domain refused")
c.login(user, pw)
typ, boxes = c.list(); assert typ == 'OK'
assert any(b'\\Sent' in b and b'Sent' in b for b in boxes), boxes
print("OK list")
msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nsnake body\r\n"
typ, data = c.append('INBOX', '(\\Flagged)', imaplib.Time2Internaldate(1700000000), msg); assert typ == 'OK', data
assert b'APPENDUID' in data[0], data
typ, data = c.select('INBOX'); assert typ == 'OK' and data[0] == b'1', data
typ, data = c.fetch('1', '(FLAGS RFC822.SIZE BODY.PEEK[])')
assert typ == 'OK' and data[0][1] == msg and b'\\Flagged' in data[0][0], data
print("OK fetch")
typ, data = c.uid('search', None, 'TEXT', 'SNAKE'); assert data == [b'1'], data
typ, data = c.search(None, 'FROM', 'py@example.org', 'SUBJECT', 'python'); assert data == [b'1'], data
print("OK search")
typ, data = c.store('1', '+FLAGS', '(\\Seen \\Deleted)'); assert typ == 'OK' and b'\\Seen' in data[0], data
typ, data = c.copy('1', 'Archive'); assert typ == 'OK', data
typ, data = c.create('Py/Sub'); assert typ == 'OK', data
typ, data = c.rename('Py/Sub', 'Py/Other'); assert typ == 'OK', data
typ, data = c.status('Archive', '(MESSAGES UNSEEN UIDNEXT)'); assert b'MESSAGES 1' in data[0], data
typ, data = c.expunge(); assert data == [b'1'], data
typ, data = c.create('bad/../name'); assert typ == 'NO', data
print("OK manage")
c.logout()
`

func TestPythonImaplib(t *testing.T) {
	python := testutil.NeedTool(t, "python3")
	ts := newTestServer(t)
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pythonClient), 0o600); err != nil {
		t.Fatal(err)
	}
	host, plainPort := splitHostPort(t, ts.plain)
	_, tlsPort := splitHostPort(t, ts.tls)
	cmd := exec.Command(python, script, host, plainPort, tlsPort, testUser, testPassword, testDomain, testDomPW)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib client: %v\n%s", err, out)
	}
	for _, want := range []string{"OK starttls", "OK domain refused", "OK list", "OK fetch", "OK search", "OK manage"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "FAIL") {
		t.Errorf("imaplib client:\n%s", out)
	}
}

// TestCurlIMAPS reads a message with curl's imaps:// support.
func TestCurlIMAPS(t *testing.T) {
	curl := testutil.NeedTool(t, "curl")
	ts := newTestServer(t)
	msg := testMessage(1, "curly")
	if _, err := ts.st.Append(testUser, "INBOX", msg, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	url := "imaps://" + ts.tls + "/INBOX;UID=1"
	out, err := exec.Command(curl, "-sS", "--insecure", "--max-time", "20", "--user", testUser+":"+testPassword, url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if string(out) != string(msg) {
		t.Fatalf("curl got %q, want %q", out, msg)
	}
	// A wrong password fails.
	if out, err := exec.Command(curl, "-sS", "--insecure", "--max-time", "20", "--user", testUser+":nope", url).CombinedOutput(); err == nil {
		t.Fatalf("curl with a wrong password succeeded: %s", out)
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
