package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	authcli "github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/internal/testutil"
)

// unitDirectives reads key=value lines of a systemd unit (all values).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnit checks the hardening the issue asks for, that the data
// directory is the writable one, that the stop timeout covers --grace,
// and (with systemd-analyze) that systemd accepts the file.
func TestSystemdUnit(t *testing.T) {
	d := unitDirectives(t, repoFile("dist/authsmtp.service"))
	want := map[string]string{
		"ProtectSystem":       "strict",
		"ReadWritePaths":      "/var/lib/authsmtp",
		"AmbientCapabilities": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":     "yes",
		"StateDirectory":      "authsmtp",
		"KillSignal":          "SIGTERM",
	}
	for k, v := range want {
		if len(d[k]) != 1 || d[k][0] != v {
			t.Errorf("%s=%v, want %s", k, d[k], v)
		}
	}
	if len(d["ExecStart"]) != 1 || !strings.Contains(d["ExecStart"][0], "serve --data /var/lib/authsmtp") {
		t.Errorf("ExecStart=%v does not serve the ReadWritePaths directory", d["ExecStart"])
	}
	stop, err := time.ParseDuration(strings.TrimSpace(d["TimeoutStopSec"][0]))
	if err != nil || stop <= config.Default().Grace {
		t.Errorf("TimeoutStopSec=%v must exceed the default --grace %v", d["TimeoutStopSec"], config.Default().Grace)
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing (install systemd)")
		}
		t.Skip("systemd-analyze not installed")
	}
	// Verify a copy whose ExecStart exists on this machine.
	raw, _ := os.ReadFile(repoFile("dist/authsmtp.service"))
	bin, _ := exec.LookPath("true")
	unit := filepath.Join(t.TempDir(), "authsmtp.service")
	os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/authsmtp", bin)), 0o644)
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// defaultPorts are the ports of every listener that is on by default.
func defaultPorts(t *testing.T) []string {
	c := config.Default()
	var ports []string
	for _, a := range []string{c.Submission, c.Submissions, c.MX, c.IMAP, c.IMAPS, c.HTTPS, c.HTTP} {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	sort.Strings(ports)
	return ports
}

// TestDockerfileAndCompose: the image exposes exactly the default
// listener ports, keeps /data, runs non-root with a health check, and the
// compose example publishes the same ports and mounts the volume.
func TestDockerfileAndCompose(t *testing.T) {
	raw, err := os.ReadFile(repoFile("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	m := regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no EXPOSE")
	}
	exposed := strings.Fields(m[1])
	sort.Strings(exposed)
	if strings.Join(exposed, " ") != strings.Join(defaultPorts(t), " ") {
		t.Errorf("EXPOSE %v, default listeners %v", exposed, defaultPorts(t))
	}
	for _, want := range []string{"VOLUME /data", "ENV AUTHSMTP_DATA=/data", "USER 65532", `HEALTHCHECK`, `"healthcheck"`, "scripts/build-image.sh"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, ok := authcli.Find("healthcheck"); !ok {
		t.Error("the HEALTHCHECK command does not exist")
	}
	raw, err = os.ReadFile(repoFile("compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cy := string(raw)
	for _, p := range defaultPorts(t) {
		if !strings.Contains(cy, `"`+p+":"+p+`"`) {
			t.Errorf("compose.yaml does not publish %s", p)
		}
	}
	if !strings.Contains(cy, ":/data") {
		t.Error("compose.yaml mounts no volume on /data")
	}
	g := regexp.MustCompile(`stop_grace_period: (\S+)`).FindStringSubmatch(cy)
	if g == nil {
		t.Fatal("compose.yaml has no stop_grace_period")
	}
	if d, err := time.ParseDuration(g[1]); err != nil || d <= config.Default().Grace {
		t.Errorf("stop_grace_period %s must exceed --grace", g[1])
	}
}

// TestGoModTidy checks that go.mod is what `go mod tidy` makes of it: the
// modules the code imports are listed as direct requirements, not marked
// `// indirect`, and nothing unused is left in.
func TestGoModTidy(t *testing.T) {
	gobin := testutil.NeedTool(t, "go")
	gomod, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("go env GOMOD: %v %q", err, gomod)
	}
	cmd := exec.Command(gobin, "mod", "tidy", "-diff")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go.mod is not tidy (run `go mod tidy`): %v\n%s", err, out)
	}
}
