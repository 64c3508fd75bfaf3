package testenv

import "testing"

func TestRequired(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "yes": true} {
		t.Setenv("MMRAG_REQUIRE_TESTENV", v)
		if got := Required("MMRAG_REQUIRE_TESTENV"); got != want {
			t.Errorf("%q: Required %v, want %v", v, got, want)
		}
	}
}

func TestNeed(t *testing.T) {
	t.Setenv("MMRAG_REQUIRE_TESTENV", "")
	t.Setenv(RequireTools, "")                        // CI sets it
	Need(t, true, "MMRAG_REQUIRE_TESTENV", "present") // neither skips nor fails
	if !Check(t, true, "MMRAG_REQUIRE_TESTENV", "present") || Check(t, false, "MMRAG_REQUIRE_TESTENV", "absent") {
		t.Error("Check does not return ok")
	}
	t.Run("skips", func(t *testing.T) {
		defer func() {
			if !t.Skipped() {
				t.Error("not skipped")
			}
		}()
		Tool(t, "nothing", "mmrag-no-such-tool")
	})
}
