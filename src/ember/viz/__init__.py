"""``ember.viz``: every picture Ember draws, and the shared look of its HTML pages, in one place.

- ``style``: colours, ``new_figure``, ``save_png`` (atomic), ``image_grid``; ``page``: ``html_page``,
  ``card``, ``embedded_image``, ``section``.
- ``report``: the run report's plots; ``doctor``: ``ember doctor``'s and ``--monitor``'s; ``scenes``:
  ``ember.vision``'s scenes with their masks, boxes and labels.
- ``inside``: seeing inside a trained network (filters, templates, activations, top patches, saliency,
  occlusion, neighbours); ``embedding``: t-SNE and PCA maps of a layer's features (``ember viz``).
- ``labs``: the lectures' experiments (``ember lab NAME``); ``playground``: the 2-D classifier in the browser.

Plots need matplotlib (the ``train`` extra); it is imported when a figure is made, not here.
"""

from ember.viz.page import card, embedded_image, html_page, section
from ember.viz.style import PALETTE, image_grid, new_figure, save_png

__all__ = [
    "PALETTE",
    "card",
    "embedded_image",
    "html_page",
    "image_grid",
    "new_figure",
    "save_png",
    "section",
]
