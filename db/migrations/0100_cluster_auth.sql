-- Auth state shared by the instances of a cluster (`cluster.authStore: "postgres"`): agent
-- users, banned tokens and the JWT secret. Triggers NOTIFY channel `poa_auth` on every change,
-- whoever made it (an instance or an operator with psql), so each instance updates its
-- in-memory caches at once. Unused (and empty) on a single node, whose auth state is in Deno KV.

create table if not exists poa_users (
  name text primary key,
  password_hash text not null,
  active boolean not null default true,
  created_at timestamptz not null default now()
);

-- A banned token (by its `jti`) is kept until the token would have expired anyway
-- (`expires_at` = its `exp`); the instances purge expired rows.
create table if not exists poa_banned_tokens (
  jti text primary key,
  expires_at timestamptz not null
);
create index if not exists poa_banned_tokens_expires_at_idx on poa_banned_tokens (expires_at);

-- Small shared settings; `jwt_secret` is created once by the first instance that starts.
create table if not exists poa_settings (
  key text primary key,
  value text not null
);

create or replace function poa_users_notify() returns trigger language plpgsql as $$
begin
  if tg_op <> 'INSERT' then
    perform pg_notify('poa_auth', json_build_object('kind', 'user', 'name', old.name)::text);
  end if;
  if tg_op <> 'DELETE' and (tg_op = 'INSERT' or new.name <> old.name) then
    perform pg_notify('poa_auth', json_build_object('kind', 'user', 'name', new.name)::text);
  end if;
  return null;
end $$;

drop trigger if exists poa_users_notify on poa_users;
create trigger poa_users_notify after insert or update or delete on poa_users
  for each row execute function poa_users_notify();

create or replace function poa_banned_tokens_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('poa_auth', json_build_object(
    'kind', 'ban', 'jti', new.jti, 'exp', floor(extract(epoch from new.expires_at))::bigint)::text);
  return null;
end $$;

drop trigger if exists poa_banned_tokens_notify on poa_banned_tokens;
create trigger poa_banned_tokens_notify after insert or update on poa_banned_tokens
  for each row execute function poa_banned_tokens_notify();
