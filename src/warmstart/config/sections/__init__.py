"""The config sections, one module per kind of section; `warmstart.config.schema` puts them together into
the top-level configs and re-exports them all.

base: Section (the base of every section) and RunSection. data: data sections, Augment. models: tokenizer
and model (backbone) sections. objectives: pretraining and word-vector objectives. tasks: tasks and
fine-tuning strategies. optim: optimizers and LR schedules. train: TrainSection.
"""
