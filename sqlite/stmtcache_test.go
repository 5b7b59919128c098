package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestStmtCache(t *testing.T) {
	db, err := openCached("file:" + filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := db.Exec(`INSERT INTO t VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("SameTextWhileRowsOpen", func(t *testing.T) {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		const q = `SELECT n FROM t WHERE n >= $1 ORDER BY n`
		outer, err := tx.Query(q, 1)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for outer.Next() {
			var n int
			outer.Scan(&n)
			inner, err := tx.Query(q, n) // the cached statement is busy with outer's rows
			if err != nil {
				t.Fatal(err)
			}
			s := 0
			for inner.Next() {
				var m int
				inner.Scan(&m)
				s += m
			}
			if err := inner.Close(); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d:%d", n, s))
		}
		if err := outer.Close(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[1:6 2:5 3:3]" {
			t.Fatalf("got %v, want [1:6 2:5 3:3]", got)
		}
	})

	t.Run("Evicted", func(t *testing.T) {
		for i := range stmtCacheSize + 10 {
			var n int
			if err := db.QueryRow(fmt.Sprintf(`SELECT count(*) + %d FROM t`, i)).Scan(&n); err != nil || n != 3+i {
				t.Fatalf("query %d: %d, %v", i, n, err)
			}
		}
	})

	t.Run("FailedThenFixed", func(t *testing.T) {
		const q = `INSERT INTO u VALUES ($1)`
		if _, err := db.Exec(q, 1); err == nil {
			t.Fatal("insert into a missing table succeeded")
		}
		if _, err := db.Exec(`CREATE TABLE u (n INTEGER)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(q, 1); err != nil {
			t.Fatal(err)
		}
	})
}
