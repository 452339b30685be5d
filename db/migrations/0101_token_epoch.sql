-- A token is valid only while its user's token epoch is the one it was issued under: a new
-- random epoch at creation and at every deactivation, so no token comes back to life when a user
-- is re-created or reactivated. '' for users created before this migration (their tokens keep
-- working until the next deactivation).
alter table poa_users add column if not exists token_epoch text not null default '';
