-- SQLite's 0010 puts each chunk's consultant into its full-text index. PostgreSQL's
-- search filters chunks by their consultant column beside the GIN index as it is; the
-- number is kept so that both stores' migrations stay in step.
SELECT 1;
