package postgres_test

import (
	"os"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

func skipUnlessPostgres(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
}

func TestConformance(t *testing.T) {
	skipUnlessPostgres(t)
	storetest.Exercise(t, storetest.Postgres.Store)
}

func TestMigrations(t *testing.T) {
	skipUnlessPostgres(t)
	storetest.ExerciseMigrations(t, storetest.Postgres)
}

func BenchmarkKnowledgeSearch10k(b *testing.B) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		b.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	storetest.BenchmarkKnowledgeSearch(b, storetest.Postgres, 10_000)
}

func BenchmarkSend(b *testing.B) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		b.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	storetest.BenchmarkSend(b, storetest.Postgres)
}
