package milters

import "testing"

func TestParse(t *testing.T) {
	ms, err := Parse("127.0.0.1:11332, inet:8891@milter.host,unix:/run/m.sock,/run/x.sock")
	if err != nil || len(ms) != 4 || ms[0] != (Milter{"tcp", "127.0.0.1:11332"}) || ms[1] != (Milter{"tcp", "milter.host:8891"}) ||
		ms[2] != (Milter{"unix", "/run/m.sock"}) || ms[3] != (Milter{"unix", "/run/x.sock"}) {
		t.Errorf("%+v %v", ms, err)
	}
	if _, err := Parse("nohostport"); err == nil {
		t.Error("bad address accepted")
	}
}

func TestCleanText(t *testing.T) {
	if got := CleanText("bad\r\nSMTP\x00 injected"); got != "badSMTP injected" {
		t.Errorf("%q", got)
	}
}
