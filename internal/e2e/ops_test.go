package e2e

import (
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authcli "github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/testutil"

	"github.com/emersion/go-imap/v2/imapclient"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/authsmtp/authsmtp/store"
)

// TestBackupRestoreCLI: backup through a running server (to a file and to
// stdout), restore refused while it runs, then restored into a fresh data
// directory where the accounts and mail are found.
func TestBackupRestoreCLI(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	srv := startOpsServe(t, bin, data, nil)
	opsMustCLI(t, bin, data, "", "domain", "add", "b.test")
	opsMustCLI(t, bin, data, "Dom-pass-x7Q!z\n", "domain", "password", "b.test")
	opsMustCLI(t, bin, data, "Usr-pass-k9W!q\n", "user", "add", "ann@b.test")
	mbox := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(mbox, []byte("From x Mon Jan  2 15:04:05 2006\nSubject: hi\n\nbody\n"), 0o600)
	out := opsMustCLI(t, bin, data, "", "import", "ann@b.test", mbox)
	if !strings.Contains(out, "imported 1 messages") || !strings.Contains(out, "INBOX") {
		t.Fatalf("import output: %s", out)
	}

	bk := filepath.Join(t.TempDir(), "b.db")
	out = opsMustCLI(t, bin, data, "", "backup", bk)
	if !strings.Contains(out, "backup written to "+bk) || !strings.Contains(out, "1 domain, 1 user, 1 message,") {
		t.Fatalf("backup output: %s", out)
	}
	// backup - streams the file over the control socket to stdout.
	raw := opsMustCLI(t, bin, data, "", "backup", "-")
	streamed := filepath.Join(t.TempDir(), "streamed.db")
	os.WriteFile(streamed, []byte(raw), 0o600)
	if info, err := store.CheckBackup(streamed); err != nil || info.Users != 1 {
		t.Fatalf("streamed backup: %+v %v", info, err)
	}

	_, errs, code := opsCLI(t, bin, data, "", "restore", bk)
	if code != 1 || !strings.Contains(errs, "is running") || !strings.Contains(errs, "stop it first") {
		t.Fatalf("restore while running: exit %d %q", code, errs)
	}
	if err := srv.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v\n%s", err, srv.Logs())
	}

	// With the server stopped, backup opens the file itself.
	bk2 := filepath.Join(t.TempDir(), "stopped.db")
	if out := opsMustCLI(t, bin, data, "", "backup", bk2); !strings.Contains(out, "1 domain, 1 user, 1 message,") {
		t.Fatalf("backup without a server: %s", out)
	}
	// No database there: an error, and no empty database is made.
	empty := t.TempDir()
	if _, errs, code := opsCLI(t, bin, empty, "", "backup", filepath.Join(t.TempDir(), "x.db")); code != 1 || !strings.Contains(errs, "no database") {
		t.Fatalf("backup of nothing: exit %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(empty, store.DBFile)); err == nil {
		t.Fatal("backup created a database")
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	out = opsMustCLI(t, bin, fresh, "", "restore", bk)
	if !strings.Contains(out, "restored") || strings.Contains(out, "kept as") {
		t.Fatalf("restore output: %s", out)
	}
	if out := opsMustCLI(t, bin, fresh, "", "user", "list"); !strings.Contains(out, "ann@b.test") {
		t.Fatalf("restored user list: %s", out)
	}
	st, err := store.Open(fresh, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Authenticate("ann@b.test", "Usr-pass-k9W!q"); err != nil {
		t.Fatalf("restored password: %v", err)
	}
	if _, err := st.Authenticate("b.test", "Dom-pass-x7Q!z"); err != nil {
		t.Fatalf("restored domain password: %v", err)
	}
	if ms, err := st.ListMessages("ann@b.test", "INBOX"); err != nil || len(ms) != 1 {
		t.Fatalf("restored mail: %v %v", ms, err)
	}

	// A damaged backup is refused and nothing changes.
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte(strings.Repeat("junk", 4096)), 0o600)
	st.Close()
	_, errs, code = opsCLI(t, bin, fresh, "", "restore", bad)
	if code != 1 || !strings.Contains(errs, "not a usable authsmtp backup") {
		t.Fatalf("bad restore: exit %d %q", code, errs)
	}
}

// TestExportCLI exports through the running server and imports the
// Maildir into another user directly on the file after it stops.
func TestExportCLI(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	srv := startOpsServe(t, bin, data, nil)
	opsMustCLI(t, bin, data, "", "domain", "add", "e.test")
	opsMustCLI(t, bin, data, "Usr-pass-k9W!q\n", "user", "add", "ann@e.test")
	opsMustCLI(t, bin, data, "Usr-pass-k9W!q\n", "user", "add", "bob@e.test")
	mbox := filepath.Join(t.TempDir(), "Lists.mbox")
	os.WriteFile(mbox, []byte("From x Mon Jan  2 15:04:05 2006\nSubject: 1\n\none\n\nFrom y Mon Jan  2 15:04:06 2006\nSubject: 2\nStatus: RO\n\ntwo\n\n"+
		"From z Mon Jan  2 15:04:07 2006\nno header here\n"), 0o600)
	// Through the server, the mail is staged in the data directory; the
	// summary still names the user's file, and the staging copy is gone.
	out := opsMustCLI(t, bin, data, "", "import", "ann@e.test", mbox)
	if !strings.Contains(out, mbox+" message 3: bad header") || strings.Contains(out, ".import-") {
		t.Fatalf("import summary: %s", out)
	}
	dir := filepath.Join(t.TempDir(), "md")
	out = opsMustCLI(t, bin, data, "", "export", "ann@e.test", dir)
	if !strings.Contains(out, "exported 2 messages") {
		t.Fatalf("export output: %s", out)
	}
	if _, errs, code := opsCLI(t, bin, data, "", "export", "ann@e.test", dir); code != 1 || !strings.Contains(errs, "already holds a Maildir") {
		t.Fatalf("second export: %d %s", code, errs)
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".*port-*")); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
	srv.Stop(syscall.SIGTERM)
	out = opsMustCLI(t, bin, data, "", "import", "bob@e.test", dir)
	if !strings.Contains(out, "imported 2 messages") || !strings.Contains(out, "Lists") {
		t.Fatalf("re-import: %s", out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".Lists", "cur", "*:2,S"))
	if len(files) != 1 {
		t.Fatalf("seen flag not in the Maildir name: %v", files)
	}
}

// TestMetricsListener scrapes the real server's --metrics listener and
// parses it with the Prometheus text parser.
func TestMetricsListener(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	srv := startOpsServe(t, bin, data, []string{"metrics", "submission", "imaps"})
	opsMustCLI(t, bin, data, "", "domain", "add", "m.test")
	opsMustCLI(t, bin, data, "", "domain", "enable", "m.test", "smtp")
	opsMustCLI(t, bin, data, "Mo-pass-k9W!q2\n", "user", "add", "mo@m.test")
	msg := "From: mo@m.test\r\nTo: mo@m.test\r\nSubject: m\r\n\r\nhi\r\n"
	if err := submit(srv.Addr("submission"), "mo@m.test", "Mo-pass-k9W!q2", "mo@m.test", []string{"mo@m.test"}, msg); err != nil {
		t.Fatal(err)
	}
	if err := submit(srv.Addr("submission"), "mo@m.test", "wrong", "mo@m.test", []string{"mo@m.test"}, msg); err == nil {
		t.Fatal("wrong password accepted")
	}
	// Sending as someone else is refused (the send rule).
	if err := submit(srv.Addr("submission"), "mo@m.test", "Mo-pass-k9W!q2", "other@m.test", []string{"mo@m.test"}, msg); err == nil {
		t.Fatal("send as another address accepted")
	}
	// An IMAP session stays open while metrics are read.
	ic, err := imapclient.DialTLS(srv.Addr("imaps"), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("mo@m.test", "Mo-pass-k9W!q2").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := ic.Login("mo@m.test", "bad").Wait(); err == nil {
		t.Fatal("second LOGIN accepted")
	}
	// Every login event is one JSON log line carrying the connection id.
	for _, msg := range []string{"imap login ok", "smtp auth ok", "smtp auth failed"} {
		found := false
		for _, l := range strings.Split(srv.Logs(), "\n") {
			var ev map[string]any
			if json.Unmarshal([]byte(l), &ev) == nil && ev["msg"] == msg {
				if cid, _ := ev["cid"].(string); cid == "" {
					t.Errorf("%q logged without a cid: %s", msg, l)
				}
				if strings.Contains(l, "Mo-pass-k9W!q2") {
					t.Errorf("password in the log: %s", l)
				}
				found = true
			}
		}
		if !found {
			t.Errorf("no %q log line", msg)
		}
	}
	resp, err := http.Get("http://" + srv.Addr("metrics") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	gauge := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) == 0 {
			t.Fatalf("no %s", name)
		}
		return f.Metric[0].GetGauge().GetValue()
	}
	if gauge("authsmtp_domains") != 1 || gauge("authsmtp_store_bytes") < 4096 || gauge("authsmtp_queue_messages") != 0 {
		t.Fatalf("domains %v size %v queue %v", gauge("authsmtp_domains"), gauge("authsmtp_store_bytes"), gauge("authsmtp_queue_messages"))
	}
	var cert *dto.Metric
	if f := fams["authsmtp_cert_expiry_timestamp_seconds"]; f != nil && len(f.Metric) == 1 {
		cert = f.Metric[0]
	}
	if cert == nil || cert.GetGauge().GetValue() < 1e9 || cert.Label[0].GetValue() != "localhost" {
		t.Fatalf("certificate expiry: %v", cert)
	}
	counter := func(name string, labels ...string) float64 {
	next:
		for _, m := range fams[name].GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, l := range m.Label {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
		return -1
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authsmtp_connections_total", []string{"proto", "submission"}, 3},
		{"authsmtp_auth_total", []string{"proto", "submission", "result", "ok"}, 2},
		{"authsmtp_auth_total", []string{"proto", "submission", "result", "fail"}, 1},
		{"authsmtp_messages_accepted_total", []string{"proto", "submission"}, 1},
		{"authsmtp_messages_refused_total", []string{"proto", "submission", "reason", "send_as"}, 1},
		{"authsmtp_connections_total", []string{"proto", "imap"}, 1},
		{"authsmtp_auth_total", []string{"proto", "imap", "result", "ok"}, 1},
	} {
		if got := counter(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if g := fams["authsmtp_sessions"]; g == nil || len(g.Metric) == 0 {
		t.Error("no authsmtp_sessions")
	} else {
		for _, m := range g.Metric {
			if m.Label[0].GetValue() == "imap" && m.GetGauge().GetValue() != 1 {
				t.Errorf("open IMAP sessions %v, want 1", m.GetGauge().GetValue())
			}
		}
	}
	if r, err := http.Post("http://"+srv.Addr("metrics")+"/metrics", "text/plain", nil); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /metrics: %s", r.Status)
		}
	}
	if err := srv.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// TestSignals: SIGHUP keeps the server running and says what it did;
// SIGTERM stops it cleanly: exit 0, socket removed, file unlocked.
func TestSignals(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	srv := startOpsServe(t, bin, data, []string{"metrics"})
	srv.cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(srv.Logs(), "SIGHUP"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP not handled:\n%s", srv.Logs())
		}
	}
	// The server still answers after SIGHUP.
	opsMustCLI(t, bin, data, "", "domain", "add", "s.test")
	// With no web listener, the health check asks the control socket.
	if out := opsMustCLI(t, bin, data, "", "healthcheck", "--https="); !strings.Contains(out, "control socket") {
		t.Errorf("healthcheck without https: %s", out)
	}
	if err := srv.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, srv.Logs())
	}
	logs := srv.Logs()
	for _, want := range []string{"SIGHUP", `"msg":"shutting down"`, `"signal":"terminated"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if _, err := os.Stat(authcli.SocketPath(data)); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
	if _, errs, code := opsCLI(t, bin, data, "", "healthcheck", "--https="); code != 1 || !strings.Contains(errs, "no server answers") {
		t.Errorf("healthcheck of a stopped server: exit %d %s", code, errs)
	}
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatalf("store after stop: %v", err)
	}
	st.Close()
}

// TestAutoconfigServedPorts fetches the Thunderbird and Outlook answers
// from the real HTTPS listener with curl and checks every advertised port
// against the ports the server logged it listens on.
func TestAutoconfigServedPorts(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is missing")
		}
		t.Skip("curl not installed")
	}
	bin := authsmtpBinary(t)
	data := t.TempDir()
	srv := startOpsServe(t, bin, data, []string{"submission", "submissions", "imap", "imaps", "https"})
	opsMustCLI(t, bin, data, "", "domain", "add", "auto.test")
	served := map[string]string{}
	srv.mu.Lock()
	for k, v := range srv.addrs {
		_, p, _ := net.SplitHostPort(v)
		served[k] = p
	}
	srv.mu.Unlock()
	if served["submission"] == "" || served["submissions"] == "" {
		t.Fatalf("submission listeners not up: %v", served)
	}
	base := "https://" + srv.Addr("https")
	out, err := exec.Command(curl, "-sSfk", base+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ann@auto.test").Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, srv.Logs())
	}
	var tb struct {
		Servers []struct {
			Type   string `xml:"type,attr"`
			Port   string `xml:"port"`
			Socket string `xml:"socketType"`
		} `xml:"emailProvider>incomingServer"`
		Out []struct {
			Port   string `xml:"port"`
			Socket string `xml:"socketType"`
		} `xml:"emailProvider>outgoingServer"`
	}
	if err := xml.Unmarshal(out, &tb); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, s := range tb.Servers {
		got[map[string]string{"SSL": "imaps", "STARTTLS": "imap"}[s.Socket]] = s.Port
	}
	for _, s := range tb.Out {
		got[map[string]string{"SSL": "submissions", "STARTTLS": "submission"}[s.Socket]] = s.Port
	}
	for _, svc := range []string{"imap", "imaps", "submission", "submissions"} {
		if got[svc] != served[svc] {
			t.Errorf("%s: advertised port %q, served %q", svc, got[svc], served[svc])
		}
	}
	// Outlook's POST through the same listener.
	req := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>ann@auto.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	out, err = exec.Command(curl, "-sSfk", "-H", "Content-Type: text/xml", "--data-binary", req, base+"/autodiscover/autodiscover.xml").Output()
	if err != nil {
		t.Fatalf("curl autodiscover: %v", err)
	}
	if !strings.Contains(string(out), "<Port>"+served["submissions"]+"</Port>") {
		t.Errorf("autodiscover lacks the submissions port %s:\n%s", served["submissions"], out)
	}
	// The container's health check against the same listener.
	if out, errs, code := opsCLI(t, bin, data, "", "healthcheck", "--https", srv.Addr("https")); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("healthcheck: exit %d %s %s", code, out, errs)
	}
	if _, errs, code := opsCLI(t, bin, data, "", "healthcheck", "--https", "127.0.0.1:1"); code != 1 || !strings.Contains(errs, "healthcheck") {
		t.Errorf("healthcheck of nothing: exit %d %s", code, errs)
	}
	// A domain that is not hosted gets nothing.
	if err := exec.Command(curl, "-sSfk", base+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ann@elsewhere.test").Run(); err == nil {
		t.Error("autoconfig answered for a domain not hosted here")
	}
}

// TestSIGHUPReloadsCertFiles: with --tls files, SIGHUP re-reads the files
// (the next handshake shows the new certificate); a broken file on SIGHUP
// keeps the old certificate in use and says so.
func TestSIGHUPReloadsCertFiles(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testutil.WriteCertFiles(t, certFile, keyFile, "one.test")
	srv := startOpsServe(t, bin, data, []string{"submissions"},
		"AUTHSMTP_TLS=files", "AUTHSMTP_TLS_CERT="+certFile, "AUTHSMTP_TLS_KEY="+keyFile)
	addr := srv.Addr("submissions")
	if got := testutil.ImplicitTLSLeaf(t, addr, "one.test", nil); got.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatal("first certificate not served")
	}
	waitLog := func(want string, n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(srv.Logs(), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the logs:\n%s", want, srv.Logs())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	second := testutil.WriteCertFiles(t, certFile, keyFile, "two.test")
	srv.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("SIGHUP: certificates reloaded", 1)
	if got := testutil.ImplicitTLSLeaf(t, addr, "two.test", nil); got.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Fatal("new certificate not served after SIGHUP")
	}
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("reloading certificates failed; the old ones stay in use", 1)
	if got := testutil.ImplicitTLSLeaf(t, addr, "two.test", nil); got.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Fatal("a broken file replaced the certificate in use")
	}
	if err := srv.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// TestPprofOnMetricsListener: Go's profiles are served on the --metrics
// listener only with --pprof.
func TestPprofOnMetricsListener(t *testing.T) {
	bin := authsmtpBinary(t)
	get := func(srv *opsServed) (int, string) {
		resp, err := http.Get("http://" + srv.Addr("metrics") + "/debug/pprof/heap?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	off := startOpsServe(t, bin, t.TempDir(), []string{"metrics"})
	if code, _ := get(off); code != http.StatusNotFound {
		t.Errorf("without --pprof: status %d, want 404", code)
	}
	on := startOpsServe(t, bin, t.TempDir(), []string{"metrics"}, "AUTHSMTP_PPROF=true")
	if code, body := get(on); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("with --pprof: status %d, body %.100q", code, body)
	}
}
