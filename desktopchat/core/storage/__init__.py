"""The chat database: the only package that imports sqlite3.

- database.py: the connection, its pragmas, the numbered migrations (a backup first),
  environment faults turned into StorageError with a message that says what to do.
- repositories.py: every repository name others import. ConversationRepository is
  composed of conversations.py (rows, list pages, titles, pins, the trash),
  messages.py (messages and the branch tree, imports), search.py (full-text search) and
  prompts.py (what the model received, summaries); models.py and presets.py hold the
  model and preset repositories; rows.py the list rows, titles and row mappers.
- fulltext.py: what the search index stores and how it is asked, for every script
  (Qt- and SQLite-free, shared with the documents' keyword index).
- changes.py: the process's WriteLog, telling its own commits from other programs'.
- backups.py: rolling daily backups and recovery from the newest good one.
- maintenance.py: start-up maintenance (integrity check, old trash, daily backup).
"""
