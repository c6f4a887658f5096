"""Every table of every package, registered on Base.metadata in one place.

Each package owns its tables (its models.py); nothing below imports them all. The entrypoints
import this module: the app factory, the CLI, Alembic's env.py and the tests, so the metadata is
whole (migrations, truncating between tests) and every mapper is known before SQLAlchemy
configures the relationships named by string.
"""

from __future__ import annotations

from ivr_gateway import models as core_models
from ivr_gateway.api import models as api_models
from ivr_gateway.db import Base
from ivr_gateway.ecc import models as ecc_models
from ivr_gateway.escalation import models as escalation_models
from ivr_gateway.ivr import models as ivr_models
from ivr_gateway.office import models as office_models
from ivr_gateway.outbox import models as outbox_models
from ivr_gateway.rota import models as rota_models
from ivr_gateway.sms import models as sms_models
from ivr_gateway.telephony import models as telephony_models
from ivr_gateway.visits import models as visit_models
from ivr_gateway.webhooks import models as webhook_models

MODULES = (core_models, api_models, ecc_models, escalation_models, ivr_models, office_models,
           outbox_models, rota_models, sms_models, telephony_models, visit_models,
           webhook_models)
metadata = Base.metadata
