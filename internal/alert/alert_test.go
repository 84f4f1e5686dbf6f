package alert_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/headsup-dev/headsup/internal/alert"
)

var update = flag.Bool("update", false, "rewrite testdata/events/*.json and testdata/render/*.txt from the examples")

// golden compares got with testdata/<path>, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	path = filepath.Join("testdata", path)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func mustMarshal(t *testing.T, e *alert.Event) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExamplesValidate: a realistic event of every type and lifecycle step
// is valid, and its wire form is pinned in testdata/events.
func TestExamplesValidate(t *testing.T) {
	for _, ex := range examples() {
		t.Run(ex.name, func(t *testing.T) {
			b := mustMarshal(t, ex.event)
			if err := alert.Validate(b); err != nil {
				t.Fatalf("Validate: %v\n%s", err, b)
			}
			var ind bytes.Buffer
			if err := json.Indent(&ind, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			ind.WriteByte('\n')
			golden(t, filepath.Join("events", ex.name+".json"), ind.Bytes())
			// The committed file is valid too (a receiver's view).
			if err := alert.Validate(ind.Bytes()); err != nil {
				t.Fatalf("indented: %v", err)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, ex := range examples() {
		t.Run(ex.name, func(t *testing.T) {
			b := mustMarshal(t, ex.event)
			var got alert.Event
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			want := *ex.event
			if want.Paths == nil {
				want.Paths = []alert.Path{} // MarshalJSON writes [] for nil
			}
			if !reflect.DeepEqual(&got, &want) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
			}
			if b2 := mustMarshal(t, &got); !bytes.Equal(b, b2) {
				t.Errorf("re-marshal differs:\n%s\n%s", b, b2)
			}
		})
	}
}

func TestNilPathsMarshalAsArray(t *testing.T) {
	e := examples()[5].event // integrity: no paths
	e.Paths = nil
	b := mustMarshal(t, e)
	if !bytes.Contains(b, []byte(`"paths":[]`)) {
		t.Fatalf("nil paths not written as []: %s", b)
	}
	// Also through a value, not only a pointer.
	b2, err := json.Marshal(*e)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("value marshal differs: %v\n%s\n%s", err, b, b2)
	}
}

// mutate decodes the example, applies f to the generic form, re-encodes.
func mutate(t *testing.T, e *alert.Event, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustMarshal(t, e), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
func arr(m map[string]any, key string) []any          { return m[key].([]any) }

func TestValidateRefuses(t *testing.T) {
	byName := map[string]*alert.Event{}
	for _, ex := range examples() {
		byName[ex.name] = ex.event
	}
	cases := []struct {
		name    string
		example string
		f       func(m map[string]any)
		want    string // in the error
	}{
		{"missing alert_id", "match-raised", func(m map[string]any) { delete(m, "alert_id") }, "alert_id"},
		{"unknown event", "match-raised", func(m map[string]any) { m["event"] = "escalated" }, "/event"},
		{"wrong schema", "match-raised", func(m map[string]any) { m["schema"] = "headsup.alert.v2" }, "/schema"},
		{"alert_id not hex", "match-raised", func(m map[string]any) { m["alert_id"] = strings.ToUpper(m["alert_id"].(string)) }, "/alert_id"},
		{"revision 0", "match-raised", func(m map[string]any) { m["revision"] = 0 }, "/revision"},
		{"unknown type", "match-raised", func(m map[string]any) { m["type"] = "hunch" }, "/type"},
		{"unknown property", "match-raised", func(m map[string]any) { m["priority"] = 1 }, "priority"},
		{"unknown nested property", "match-raised", func(m map[string]any) { obj(m, "root")["signature"] = "x" }, "signature"},
		{"bad time", "match-raised", func(m map[string]any) { m["at"] = "2026-03-14 09:30:00" }, "/at"},
		{"null paths", "integrity", func(m map[string]any) { m["paths"] = nil }, "/paths"},
		{"match without customer", "match-raised", func(m map[string]any) { delete(m, "customer") }, "customer"},
		{"raised without paths", "match-raised", func(m map[string]any) { m["paths"] = []any{} }, "/paths"},
		{"raised without strength", "match-raised", func(m map[string]any) { delete(m, "strength") }, "strength"},
		{"raised with withdrawal", "match-raised", func(m map[string]any) { m["withdrawn"] = map[string]any{"reason": "expired"} }, "/withdrawn"},
		{"withdrawn without reason", "match-withdrawn", func(m map[string]any) { delete(m, "withdrawn") }, "withdrawn"},
		{"withdrawn with unknown reason", "match-withdrawn", func(m map[string]any) { obj(m, "withdrawn")["reason"] = "bored" }, "/withdrawn/reason"},
		{"withdrawn with paths", "match-withdrawn", func(m map[string]any) {
			m["paths"] = arr(mapOf(t, byName["match-updated"]), "paths")
		}, "/paths"},
		{"raised but withdrawn", "match-raised", func(m map[string]any) { m["state"] = "withdrawn" }, "/state"},
		{"withdrawn but active", "match-withdrawn", func(m map[string]any) { m["state"] = "active" }, "/state"},
		{"acked without desk", "match-acked", func(m map[string]any) { delete(m, "desk") }, "desk"},
		{"acked without state", "match-acked", func(m map[string]any) { delete(m, "state") }, "state"},
		{"acked without who", "match-acked", func(m map[string]any) { delete(obj(obj(m, "desk"), "acked"), "by") }, "by"},
		{"acked active without paths", "match-acked", func(m map[string]any) { m["paths"] = []any{} }, "/paths"},
		{"acked withdrawn without withdrawal", "match-withdrawn-acked", func(m map[string]any) { delete(m, "withdrawn") }, "withdrawn"},
		{"suppressed without rule", "match-suppressed", func(m map[string]any) { delete(obj(m, "desk"), "suppressed") }, "suppressed"},
		{"suppression selecting everything", "match-suppressed", func(m map[string]any) {
			delete(obj(obj(m, "desk"), "suppressed"), "customer_id")
		}, "/desk/suppressed"},
		{"suppression with a bad root", "match-suppressed", func(m map[string]any) {
			obj(obj(m, "desk"), "suppressed")["root"] = "edgeshield"
		}, "/desk/suppressed/root"},
		{"unsuppressed without why", "match-unsuppressed", func(m map[string]any) { delete(obj(obj(m, "desk"), "unsuppressed"), "why") }, "why"},
		{"unsuppressed still suppressed", "match-unsuppressed", func(m map[string]any) {
			obj(m, "desk")["suppressed"] = obj(mapOf(t, byName["match-suppressed"]), "desk")["suppressed"]
		}, "/desk/suppressed"},
		{"why outside an unsuppressed event", "match-acked", func(m map[string]any) {
			obj(m, "desk")["unsuppressed"] = obj(mapOf(t, byName["match-unsuppressed"]), "desk")["unsuppressed"]
		}, "/desk/unsuppressed"},
		{"unknown peak severity", "match-raised", func(m map[string]any) { m["peak_severity"] = "urgent" }, "/peak_severity"},
		{"root not visible shown verified", "root-not-visible", func(m map[string]any) { obj(m, "root")["reason_verified"] = true }, "reason_verified"},
		{"root not visible strong", "root-not-visible", func(m map[string]any) { m["strength"] = "strong" }, "/strength"},
		{"verified root without kid", "match-raised", func(m map[string]any) { delete(obj(m, "root"), "kid") }, "kid"},
		{"integrity without integrity", "integrity", func(m map[string]any) { delete(m, "integrity") }, "integrity"},
		{"integrity with a root", "integrity", func(m map[string]any) { m["root"] = obj(mapOf(t, byName["match-raised"]), "root") }, "/root"},
		{"red evidence forwardable", "match-raised", func(m map[string]any) {
			ev := arr(m, "evidence")[0].(map[string]any)
			ev["tlp"], ev["forwardable"] = "RED", true
		}, "forwardable"},
		{"evidence with nothing", "match-raised", func(m map[string]any) {
			arr(m, "evidence")[0] = map[string]any{"tlp": "CLEAR", "forwardable": true}
		}, "/evidence/0"},
		{"age without observation", "match-raised", func(m map[string]any) {
			link := arr(arr(m, "paths")[0].(map[string]any), "links")[1].(map[string]any)
			delete(obj(link, "matched"), "observed_at")
		}, "observed_at"},
		{"row source without value", "match-raised", func(m map[string]any) {
			link := arr(arr(m, "paths")[0].(map[string]any), "links")[0].(map[string]any)
			delete(obj(obj(link, "matched"), "row"), "value")
		}, "value"},
		{"unknown role", "match-raised", func(m map[string]any) {
			arr(arr(m, "paths")[0].(map[string]any), "links")[0].(map[string]any)["role"] = "bystander"
		}, "role"},
		{"identifier without type", "match-raised", func(m map[string]any) { obj(m, "subject")["identifiers"] = []any{"chanboard.example"} }, "/subject/identifiers/0"},
		{"unknown tlp", "match-raised", func(m map[string]any) { m["tlp"] = "WHITE" }, "/tlp"},
		{"digest without digest", "digest-customer", func(m map[string]any) { delete(m, "digest") }, "digest"},
		{"digest updated", "digest-customer", func(m map[string]any) { m["event"], m["revision"] = "updated", 2 }, "/event"},
		{"digest with paths", "digest-customer", func(m map[string]any) {
			m["paths"] = arr(mapOf(t, byName["match-raised"]), "paths")
		}, "/paths"},
		{"digest of a customer and a key", "digest-integrity", func(m map[string]any) {
			m["customer"] = obj(mapOf(t, byName["match-raised"]), "customer")
		}, "/customer"},
		{"digest of nothing", "digest-customer", func(m map[string]any) { obj(m, "digest")["alert_ids"] = []any{} }, "/digest/alert_ids"},
		{"digest outside a digest", "match-raised", func(m map[string]any) {
			m["digest"] = obj(mapOf(t, byName["digest-customer"]), "digest")
		}, "/digest"},
		{"alarm without alarm", "alarm-raised", func(m map[string]any) { delete(m, "alarm") }, "alarm"},
		{"unknown alarm", "alarm-raised", func(m map[string]any) { obj(m, "alarm")["kind"] = "bored" }, "/alarm/kind"},
		{"alarm with a customer", "alarm-raised", func(m map[string]any) {
			m["customer"] = obj(mapOf(t, byName["match-raised"]), "customer")
		}, "/customer"},
		{"confirmed without certificate", "match-rechecked", func(m map[string]any) {
			link := arr(arr(m, "paths")[0].(map[string]any), "links")[1].(map[string]any)
			delete(arr(link, "rechecks")[0].(map[string]any), "cert_sha256")
		}, "cert_sha256"},
		{"trusted but not confirmed", "match-rechecked", func(m map[string]any) {
			link := arr(arr(m, "paths")[1].(map[string]any), "links")[1].(map[string]any)
			arr(link, "rechecks")[0].(map[string]any)["trusted"] = true
		}, "trusted"},
		{"re-check of a suspension", "match-rechecked", func(m map[string]any) {
			links := arr(arr(m, "paths")[0].(map[string]any), "links")
			links[0].(map[string]any)["rechecks"] = links[1].(map[string]any)["rechecks"]
		}, "role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := mutate(t, byName[c.example], c.f)
			err := alert.Validate(b)
			if !errors.Is(err, alert.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid\n%s", err, b)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
		})
	}
}

func mapOf(t *testing.T, e *alert.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustMarshal(t, e), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidateRefusesNonEvents(t *testing.T) {
	good := mustMarshal(t, examples()[0].event)
	for name, in := range map[string][]byte{
		"empty":         nil,
		"not json":      []byte("alert!"),
		"array":         []byte("[" + string(good) + "]"),
		"two objects":   append(append([]byte{}, good...), good...),
		"trailing junk": append(append([]byte{}, good...), []byte(" x")...),
		"too large":     bytes.Repeat([]byte(" "), alert.MaxEventBytes+1),
	} {
		t.Run(name, func(t *testing.T) {
			if err := alert.Validate(in); !errors.Is(err, alert.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSchemaJSONIsTheCommittedFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("schema", "headsup.alert.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, alert.SchemaJSON) {
		t.Fatal("SchemaJSON differs from schema/headsup.alert.v1.json")
	}
	var m map[string]any
	if err := json.Unmarshal(alert.SchemaJSON, &m); err != nil {
		t.Fatal(err)
	}
	if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" || m["title"] != alert.SchemaV1 {
		t.Fatalf("schema header: %v %v", m["$schema"], m["title"])
	}
}

func TestRender(t *testing.T) {
	for _, ex := range examples() {
		t.Run(ex.name, func(t *testing.T) {
			golden(t, filepath.Join("render", ex.name+".txt"), []byte(alert.Render(ex.event)))
		})
	}
}

// TestRenderCleans: an issuer cannot drive the desk's terminal.
func TestRenderCleans(t *testing.T) {
	e := examples()[0].event
	e.Headline = "pay now\x1b[2J\x1b[31m"
	e.Root.Summary = "line one\nline two\u202egnp.exe\u2028"
	e.Customer.Name = "bad\xffutf8\x9b"
	out := alert.Render(e)
	for i, r := range out {
		if r == '\n' {
			continue
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) {
			t.Fatalf("control character %U at byte %d in:\n%s", r, i, out)
		}
	}
	if !strings.Contains(out, "line one\uFFFDline two") {
		t.Errorf("summary not kept on one line:\n%s", out)
	}
	if strings.Count(out, "\n") != strings.Count(alert.Render(examples()[0].event), "\n") {
		t.Errorf("cleaning changed the number of lines")
	}
}

// TestMarshalIsJSONMarshal: alert.Marshal writes what json.Marshal writes,
// byte for byte, for every example (nil paths and characters
// encoding/json escapes included), and leaves the event as it was.
func TestMarshalIsJSONMarshal(t *testing.T) {
	for _, ex := range examples() {
		for _, nilPaths := range []bool{false, true} {
			e := *ex.event
			e.Headline += ` <b>&amp;</b> "quoted" ` + "\u2028"
			if nilPaths {
				e.Paths = nil
			}
			want, err := json.Marshal(&e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := alert.Marshal(&e)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s (nil paths %v): Marshal = %v\n%s\nwant\n%s", ex.name, nilPaths, err, got, want)
			}
			if nilPaths && e.Paths != nil {
				t.Fatalf("%s: Marshal changed the event's paths", ex.name)
			}
		}
	}
}
