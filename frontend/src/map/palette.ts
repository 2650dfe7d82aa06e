// Colours of the map that are not class ramps (classify.ts): no data, suppressed, hotspot
// classes, facility types, the early-warning overlays. Shared by the layers and the legend.
import type { HOTSPOT_CLASSES } from "../common/vocabulary";

export const NODATA = "#d9d9d9";
export const SUPPRESSED = "#bdbdbd";
/** Fill of each hotspot class (common/vocabulary.ts HOTSPOT_CLASSES), in legend order. */
export const HOTSPOT_FILL: Record<keyof typeof HOTSPOT_CLASSES, string> = {
  hot: "#d7301f",
  cold: "#2b8cbe",
  none: "#e0e0e0",
};
/** Facility colours by type (common/vocabulary.ts FACILITY_TYPES); others orange. */
export const FACILITY_COLOURS: Record<string, string> = {
  county_hospital: "#6a3d9a",
  tcm_hospital: "#b15928",
  mch_hospital: "#fb9a99",
  township_hc: "#e31a1c",
  community_hc: "#e31a1c",
  village_clinic: "#33a02c",
  community_station: "#33a02c",
};
export const FACILITY_OTHER = "#ff7f00";
export const ALERT_LINE = "#b2182b";
export const RISK_RAMP: [string, string] = ["#fdae61", "#d7191c"];
