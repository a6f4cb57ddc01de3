"""The shared SQLAlchemy handle; every model (core's and plugins') uses FAB's ``Model`` base."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.models.sqla.base import SQLA

db = SQLA(model_class=Model)
metadata = Model.metadata
