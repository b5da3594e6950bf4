-- Sergas-like schema and data for the sandbox. Runs as the `sergas` role (SET ROLE), so the
-- objects belong to the application user, as they do after `alembic upgrade head`.
-- Data is generated deterministically (setseed) so counts are stable between runs.

SELECT setseed(0.42);

CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('4f2e9c1a7b3d');

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    email       varchar(255) NOT NULL,
    name        varchar(255) NOT NULL,
    role        varchar(32)  NOT NULL DEFAULT 'account_manager'
                CHECK (role IN ('admin', 'account_manager', 'viewer')),
    disabled    boolean      NOT NULL DEFAULT false,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX ix_users_email ON users (lower(email));
CREATE INDEX ix_users_role ON users (role);

CREATE TABLE accounts (
    id              bigserial PRIMARY KEY,
    zoho_id         varchar(32)  NOT NULL,
    name            varchar(255) NOT NULL,
    owner_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    industry        varchar(64),
    annual_revenue  numeric(14, 2),
    health_score    smallint CHECK (health_score BETWEEN 0 AND 100),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ix_accounts_zoho_id ON accounts (zoho_id);
CREATE INDEX ix_accounts_owner_id ON accounts (owner_id);
CREATE INDEX ix_accounts_industry ON accounts (industry);
CREATE INDEX ix_accounts_updated_at ON accounts (updated_at);

CREATE TABLE agent_sessions (
    id           bigserial PRIMARY KEY,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    account_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
    agent        varchar(64) NOT NULL,
    status       varchar(16) NOT NULL
                 CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    tokens_used  integer NOT NULL DEFAULT 0
);
CREATE INDEX ix_agent_sessions_user_id ON agent_sessions (user_id);
CREATE INDEX ix_agent_sessions_account_id ON agent_sessions (account_id);
CREATE INDEX ix_agent_sessions_started_at ON agent_sessions (started_at);
CREATE INDEX ix_agent_sessions_running ON agent_sessions (agent) WHERE status = 'running';

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    action      varchar(64) NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_audit_log_created_at ON audit_log (created_at);
CREATE INDEX ix_audit_log_user_id_created_at ON audit_log (user_id, created_at);
CREATE INDEX ix_audit_log_action ON audit_log (action);

-- 200 users: 3 admins, 5 disabled.
INSERT INTO users (email, name, role, disabled, created_at, last_login_at)
SELECT
    CASE WHEN g = 1 THEN 'admin@sergas.com' ELSE format('user%s@sergas.com', g) END,
    CASE WHEN g = 1 THEN 'System Administrator' ELSE format('Account Manager %s', g) END,
    CASE WHEN g <= 3 THEN 'admin' WHEN g % 10 = 0 THEN 'viewer' ELSE 'account_manager' END,
    g % 40 = 7,
    now() - (random() * interval '730 days'),
    now() - (random() * interval '30 days')
FROM generate_series(1, 200) AS g;

-- 2000 accounts owned by the account managers.
INSERT INTO accounts (zoho_id, name, owner_id, industry, annual_revenue, health_score, created_at, updated_at)
SELECT
    format('ZCRM%s', 4000000000 + g),
    format('Account %s %s', (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark',
                                   'Wayne', 'Tyrell', 'Cyberdyne', 'Soylent'])[1 + g % 10], g),
    4 + (g % 197),
    (ARRAY['Energy', 'Utilities', 'Manufacturing', 'Retail', 'Healthcare', 'Finance',
           'Logistics', 'Public Sector'])[1 + g % 8],
    round((random() * 50000000)::numeric, 2),
    (random() * 100)::int,
    now() - (random() * interval '1000 days'),
    now() - (random() * interval '90 days')
FROM generate_series(1, 2000) AS g;

-- 5000 agent sessions over the last 30 days; a handful still running.
INSERT INTO agent_sessions (user_id, account_id, agent, status, started_at, finished_at, tokens_used)
SELECT
    4 + (g % 197),
    1 + (g * 7) % 2000,
    (ARRAY['ZohoDataScout', 'MemoryAnalyst', 'RecommendationAuthor', 'Orchestrator'])[1 + g % 4],
    s.status,
    s.started_at,
    CASE WHEN s.status = 'running' THEN NULL
         ELSE s.started_at + (random() * interval '10 minutes') END,
    (random() * 20000)::int
FROM generate_series(1, 5000) AS g
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN g > 4990 THEN 'running'
             WHEN g % 50 = 0 THEN 'failed'
             WHEN g % 97 = 0 THEN 'cancelled'
             ELSE 'completed' END AS status,
        CASE WHEN g > 4990 THEN now() - (random() * interval '5 minutes')
             ELSE now() - (random() * interval '30 days') END AS started_at
) AS s;

-- 5000 audit entries over the last 90 days. A healthy log for audit.review: in the last 30 days
-- only enabled users act, and no privileged action (user.*) was taken; the disabled users'
-- actions and the user.create entries are all 35 to 90 days old (they were disabled then).
INSERT INTO audit_log (user_id, action, details, created_at)
SELECT
    a.user_id,
    a.action,
    jsonb_build_object('ip', format('10.0.%s.%s', g % 250, (g * 13) % 250),
                       'account_id', 1 + (g * 11) % 2000,
                       'user_agent', 'Mozilla/5.0'),
    CASE WHEN a.user_id % 40 = 7 OR a.action LIKE 'user.%'
         THEN now() - interval '35 days' - (random() * interval '55 days')
         ELSE now() - (random() * interval '90 days') END
FROM generate_series(1, 5000) AS g
CROSS JOIN LATERAL (
    SELECT
        1 + (g % 200) AS user_id,
        (ARRAY['login', 'logout', 'account.view', 'account.update', 'recommendation.approve',
               'recommendation.reject', 'user.create', 'export.csv'])[1 + g % 8] AS action
) AS a;
