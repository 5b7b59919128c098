package sqlite

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// TestNotifyInProcess: a notification sent through any executor reaches the listeners
// of its topic on the same store, and no one else.
func TestNotifyInProcess(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir() + "/n.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := db.Driver().(*driver)
	other, err := Open(t.TempDir() + "/o.db")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	inserts, controls, elsewhere := d.GetListener(nil), d.GetListener(nil), other.Driver().GetListener(nil)
	for l, topic := range map[riverdriver.Listener]string{inserts: "river_insert", controls: "river_control", elsewhere: "river_insert"} {
		if err := l.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Listen(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := d.GetExecutor().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.NotifyMany(ctx, &riverdriver.NotifyManyParams{Topic: "river_insert", Payload: []string{`{"queue":"deliveries"}`}}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := inserts.WaitForNotification(wctx)
	if err != nil || n.Topic != "river_insert" || n.Payload != `{"queue":"deliveries"}` {
		t.Fatalf("insert listener got %+v, %v", n, err)
	}
	for name, l := range map[string]riverdriver.Listener{"another topic's": controls, "another store's": elsewhere} {
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if n, err := l.WaitForNotification(short); err == nil {
			t.Fatalf("%s listener got %+v", name, n)
		}
		cancel()
	}
	// A closed listener gets nothing more.
	inserts.Close(ctx)
	if err := d.GetExecutor().NotifyMany(ctx, &riverdriver.NotifyManyParams{Topic: "river_insert", Payload: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if len(d.bus.listeners) != 1 {
		t.Fatalf("listeners on the bus: %d, want 1 (the control one)", len(d.bus.listeners))
	}
}

// TestRiverVersion is the tripwire for notify.go, which wraps River driver interfaces
// that River may change in any release: every River module in go.mod must be
// RiverVersion.
func TestRiverVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[0], "github.com/riverqueue/river") {
			n++
			if f[1] != RiverVersion {
				t.Errorf("go.mod requires %s %s, but sqlite/notify.go wraps the driver interfaces of %s: follow the upgrade steps on RiverVersion", f[0], f[1], RiverVersion)
			}
		}
	}
	if n == 0 {
		t.Fatal("go.mod names no River module")
	}
}
