"""Disease burden per town from claims (一院一专科: which specialty does a town's area need).

For each town, the conditions of the claims in the window ``W`` (the 365 days ending ``D``),
grouped by WHO ICD-10 block, ranked by visits, patients (distinct residents) and cost, with
the patient rate per 1000 population and its ratio to the county rate. A township hospital
reads "our area has 1.8 × the county rate of dorsopathies" as a case for a rehabilitation /
pain clinic.

Conventions (RULES.md is silent on this view):

* Claims of every visit type count (a visit = a claim row; the admission date places an
  inpatient stay); claims without an ICD-10 code, or whose resident is not on file, are left
  out. A claim is placed in the town of the resident's household, like the indicators.
* Blocks: the WHO ICD-10 blocks of :data:`ICD10_BLOCKS`, matched on the first three
  characters of the main diagnosis. Two WHO block *groups* are kept whole because county
  practice reads them as one specialty: C00–C97 malignant neoplasms and M40–M54
  dorsopathies. A category in no block (U-codes outside U00–U49/U82–U85, typos) is
  ``other``.
* Population: the town's population from ``population`` (latest year <= D's year, as the
  indicators) when given, else its active residents on D.
* "Top": a block is listed for a town when it is among the town's ``top`` by visits, by
  patients or by cost (ranks with ties sharing the best rank), so all three rankings can
  be read from the rows.
* Small numbers: a row with 1–9 patients is flagged ``suppressed`` and its counts, cost and
  rates are blanked (the ranks are kept), as the indicators' rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.indicators import (
    Geography,
    _active,
    _col,
    _day_number,
    _days,
    _derive_codes,
    _factor,
    _fallback_codes,
    _ids,
    _resident_lookup,
    _to_arrow,
    _to_num,
    _unique_residents,
    _village_town_hint,
    village_population,
)
from geo.rules import DEFAULT_RULES, RulesConfig


@dataclass(frozen=True)
class Icd10Block:
    """One ICD-10 block: inclusive 3-character category range and its names."""

    start: str
    end: str
    name_en: str
    name_zh: str
    chapter: str

    @property
    def code(self) -> str:
        """``I10-I15`` (``C50`` for a one-category block)."""
        return self.start if self.start == self.end else f"{self.start}-{self.end}"


def _b(rng: str, en: str, zh: str, chapter: str) -> Icd10Block:
    lo, _, hi = rng.partition("-")
    return Icd10Block(lo, hi or lo, en, zh, chapter)


#: WHO ICD-10 blocks (2019 edition; A90-A99 and O94-O99 also cover the older China edition's
#: codes), with Chinese names after the Chinese ICD-10 edition.
ICD10_BLOCKS: tuple[Icd10Block, ...] = (
    # I 某些传染病和寄生虫病
    _b("A00-A09", "Intestinal infectious diseases", "肠道传染病", "I"),
    _b("A15-A19", "Tuberculosis", "结核病", "I"),
    _b("A20-A28", "Certain zoonotic bacterial diseases", "某些动物传染的细菌性疾病", "I"),
    _b("A30-A49", "Other bacterial diseases", "其他细菌性疾病", "I"),
    _b(
        "A50-A64",
        "Infections with a predominantly sexual mode of transmission",
        "主要为性传播模式的感染",
        "I",
    ),
    _b("A65-A69", "Other spirochaetal diseases", "其他螺旋体疾病", "I"),
    _b("A70-A74", "Other diseases caused by chlamydiae", "衣原体引起的其他疾病", "I"),
    _b("A75-A79", "Rickettsioses", "立克次体病", "I"),
    _b("A80-A89", "Viral infections of the central nervous system", "中枢神经系统病毒感染", "I"),
    _b(
        "A90-A99",
        "Arthropod-borne viral fevers and viral haemorrhagic fevers",
        "节肢动物传播的病毒性发热和病毒性出血热",
        "I",
    ),
    _b(
        "B00-B09",
        "Viral infections characterized by skin and mucous membrane lesions",
        "以皮肤和黏膜损害为特征的病毒感染",
        "I",
    ),
    _b("B15-B19", "Viral hepatitis", "病毒性肝炎", "I"),
    _b("B20-B24", "Human immunodeficiency virus [HIV] disease", "人类免疫缺陷病毒[HIV]病", "I"),
    _b("B25-B34", "Other viral diseases", "其他病毒性疾病", "I"),
    _b("B35-B49", "Mycoses", "真菌病", "I"),
    _b("B50-B64", "Protozoal diseases", "原虫疾病", "I"),
    _b("B65-B83", "Helminthiases", "蠕虫病", "I"),
    _b("B85-B89", "Pediculosis, acariasis and other infestations", "虱病、螨病和其他侵染", "I"),
    _b("B90-B94", "Sequelae of infectious and parasitic diseases", "传染病和寄生虫病的后遗症", "I"),
    _b(
        "B95-B98",
        "Bacterial, viral and other infectious agents",
        "细菌、病毒和其他传染性病原体",
        "I",
    ),
    _b("B99", "Other infectious diseases", "其他传染病", "I"),
    # II 肿瘤
    _b("C00-C97", "Malignant neoplasms", "恶性肿瘤", "II"),
    _b("D00-D09", "In situ neoplasms", "原位肿瘤", "II"),
    _b("D10-D36", "Benign neoplasms", "良性肿瘤", "II"),
    _b("D37-D48", "Neoplasms of uncertain or unknown behaviour", "动态未定或动态未知的肿瘤", "II"),
    # III 血液及造血器官疾病和某些涉及免疫机制的疾患
    _b("D50-D53", "Nutritional anaemias", "营养性贫血", "III"),
    _b("D55-D59", "Haemolytic anaemias", "溶血性贫血", "III"),
    _b("D60-D64", "Aplastic and other anaemias", "再生障碍性贫血和其他贫血", "III"),
    _b(
        "D65-D69",
        "Coagulation defects, purpura and other haemorrhagic conditions",
        "凝血缺陷、紫癜和其他出血性情况",
        "III",
    ),
    _b(
        "D70-D77",
        "Other diseases of blood and blood-forming organs",
        "血液和造血器官的其他疾病",
        "III",
    ),
    _b(
        "D80-D89",
        "Certain disorders involving the immune mechanism",
        "某些涉及免疫机制的疾患",
        "III",
    ),
    # IV 内分泌、营养和代谢疾病
    _b("E00-E07", "Disorders of thyroid gland", "甲状腺疾患", "IV"),
    _b("E10-E14", "Diabetes mellitus", "糖尿病", "IV"),
    _b(
        "E15-E16",
        "Other disorders of glucose regulation and pancreatic internal secretion",
        "其他葡萄糖调节和胰腺内分泌疾患",
        "IV",
    ),
    _b("E20-E35", "Disorders of other endocrine glands", "其他内分泌腺疾患", "IV"),
    _b("E40-E46", "Malnutrition", "营养不良", "IV"),
    _b("E50-E64", "Other nutritional deficiencies", "其他营养缺乏", "IV"),
    _b("E65-E68", "Obesity and other hyperalimentation", "肥胖症和其他营养过度", "IV"),
    _b("E70-E90", "Metabolic disorders", "代谢紊乱", "IV"),
    # V 精神和行为障碍
    _b(
        "F00-F09",
        "Organic, including symptomatic, mental disorders",
        "器质性(包括症状性)精神障碍",
        "V",
    ),
    _b(
        "F10-F19",
        "Mental and behavioural disorders due to psychoactive substance use",
        "使用精神活性物质所致的精神和行为障碍",
        "V",
    ),
    _b(
        "F20-F29",
        "Schizophrenia, schizotypal and delusional disorders",
        "精神分裂症、分裂型障碍和妄想性障碍",
        "V",
    ),
    _b("F30-F39", "Mood [affective] disorders", "心境[情感]障碍", "V"),
    _b(
        "F40-F48",
        "Neurotic, stress-related and somatoform disorders",
        "神经症性、应激相关的及躯体形式的障碍",
        "V",
    ),
    _b(
        "F50-F59",
        "Behavioural syndromes associated with physiological disturbances and physical factors",
        "伴有生理紊乱及躯体因素的行为综合征",
        "V",
    ),
    _b("F60-F69", "Disorders of adult personality and behaviour", "成人人格和行为障碍", "V"),
    _b("F70-F79", "Mental retardation", "精神发育迟滞", "V"),
    _b("F80-F89", "Disorders of psychological development", "心理发育障碍", "V"),
    _b(
        "F90-F98",
        "Behavioural and emotional disorders with onset usually occurring in "
        "childhood and adolescence",
        "通常起病于童年和少年期的行为和情绪障碍",
        "V",
    ),
    _b("F99", "Unspecified mental disorder", "未特指的精神障碍", "V"),
    # VI 神经系统疾病
    _b(
        "G00-G09",
        "Inflammatory diseases of the central nervous system",
        "中枢神经系统炎性疾病",
        "VI",
    ),
    _b(
        "G10-G14",
        "Systemic atrophies primarily affecting the central nervous system",
        "主要影响中枢神经系统的系统性萎缩",
        "VI",
    ),
    _b("G20-G26", "Extrapyramidal and movement disorders", "锥体外系疾患和运动障碍", "VI"),
    _b(
        "G30-G32",
        "Other degenerative diseases of the nervous system",
        "神经系统的其他变性疾病",
        "VI",
    ),
    _b(
        "G35-G37",
        "Demyelinating diseases of the central nervous system",
        "中枢神经系统脱髓鞘疾病",
        "VI",
    ),
    _b("G40-G47", "Episodic and paroxysmal disorders", "发作性和阵发性疾患", "VI"),
    _b("G50-G59", "Nerve, nerve root and plexus disorders", "神经、神经根和神经丛疾患", "VI"),
    _b(
        "G60-G64",
        "Polyneuropathies and other disorders of the peripheral nervous system",
        "多神经病和周围神经系统的其他疾患",
        "VI",
    ),
    _b("G70-G73", "Diseases of myoneural junction and muscle", "肌神经接头和肌肉疾病", "VI"),
    _b("G80-G83", "Cerebral palsy and other paralytic syndromes", "脑性瘫痪和其他瘫痪综合征", "VI"),
    _b("G90-G99", "Other disorders of the nervous system", "神经系统的其他疾患", "VI"),
    # VII 眼和附器疾病
    _b(
        "H00-H06",
        "Disorders of eyelid, lacrimal system and orbit",
        "眼睑、泪器系统和眼眶疾患",
        "VII",
    ),
    _b("H10-H13", "Disorders of conjunctiva", "结膜疾患", "VII"),
    _b(
        "H15-H22",
        "Disorders of sclera, cornea, iris and ciliary body",
        "巩膜、角膜、虹膜和睫状体疾患",
        "VII",
    ),
    _b("H25-H28", "Disorders of lens", "晶状体疾患", "VII"),
    _b("H30-H36", "Disorders of choroid and retina", "脉络膜和视网膜疾患", "VII"),
    _b("H40-H42", "Glaucoma", "青光眼", "VII"),
    _b("H43-H45", "Disorders of vitreous body and globe", "玻璃体和眼球疾患", "VII"),
    _b("H46-H48", "Disorders of optic nerve and visual pathways", "视神经和视觉通路疾患", "VII"),
    _b(
        "H49-H52",
        "Disorders of ocular muscles, binocular movement, accommodation and refraction",
        "眼肌、双眼运动、调节和屈光疾患",
        "VII",
    ),
    _b("H53-H54", "Visual disturbances and blindness", "视觉障碍和盲", "VII"),
    _b("H55-H59", "Other disorders of eye and adnexa", "眼和附器的其他疾患", "VII"),
    # VIII 耳和乳突疾病
    _b("H60-H62", "Diseases of external ear", "外耳疾病", "VIII"),
    _b("H65-H75", "Diseases of middle ear and mastoid", "中耳和乳突疾病", "VIII"),
    _b("H80-H83", "Diseases of inner ear", "内耳疾病", "VIII"),
    _b("H90-H95", "Other disorders of ear", "耳的其他疾患", "VIII"),
    # IX 循环系统疾病
    _b("I00-I02", "Acute rheumatic fever", "急性风湿热", "IX"),
    _b("I05-I09", "Chronic rheumatic heart diseases", "慢性风湿性心脏病", "IX"),
    _b("I10-I15", "Hypertensive diseases", "高血压病", "IX"),
    _b("I20-I25", "Ischaemic heart diseases", "缺血性心脏病", "IX"),
    _b(
        "I26-I28",
        "Pulmonary heart disease and diseases of pulmonary circulation",
        "肺源性心脏病和肺循环疾病",
        "IX",
    ),
    _b("I30-I52", "Other forms of heart disease", "其他类型的心脏病", "IX"),
    _b("I60-I69", "Cerebrovascular diseases", "脑血管病", "IX"),
    _b(
        "I70-I79",
        "Diseases of arteries, arterioles and capillaries",
        "动脉、小动脉和毛细血管疾病",
        "IX",
    ),
    _b(
        "I80-I89",
        "Diseases of veins, lymphatic vessels and lymph nodes, not elsewhere classified",
        "静脉、淋巴管和淋巴结疾病，不可归类在他处者",
        "IX",
    ),
    _b(
        "I95-I99",
        "Other and unspecified disorders of the circulatory system",
        "循环系统的其他和未特指的疾患",
        "IX",
    ),
    # X 呼吸系统疾病
    _b("J00-J06", "Acute upper respiratory infections", "急性上呼吸道感染", "X"),
    _b("J09-J18", "Influenza and pneumonia", "流行性感冒和肺炎", "X"),
    _b("J20-J22", "Other acute lower respiratory infections", "其他急性下呼吸道感染", "X"),
    _b("J30-J39", "Other diseases of upper respiratory tract", "上呼吸道的其他疾病", "X"),
    _b("J40-J47", "Chronic lower respiratory diseases", "慢性下呼吸道疾病", "X"),
    _b("J60-J70", "Lung diseases due to external agents", "外部物质引起的肺病", "X"),
    _b(
        "J80-J84",
        "Other respiratory diseases principally affecting the interstitium",
        "主要影响间质的其他呼吸性疾病",
        "X",
    ),
    _b(
        "J85-J86",
        "Suppurative and necrotic conditions of lower respiratory tract",
        "下呼吸道化脓性和坏死性情况",
        "X",
    ),
    _b("J90-J94", "Other diseases of pleura", "胸膜的其他疾病", "X"),
    _b("J95-J99", "Other diseases of the respiratory system", "呼吸系统的其他疾病", "X"),
    # XI 消化系统疾病
    _b(
        "K00-K14", "Diseases of oral cavity, salivary glands and jaws", "口腔、唾液腺和颌疾病", "XI"
    ),
    _b("K20-K31", "Diseases of oesophagus, stomach and duodenum", "食管、胃和十二指肠疾病", "XI"),
    _b("K35-K38", "Diseases of appendix", "阑尾疾病", "XI"),
    _b("K40-K46", "Hernia", "疝", "XI"),
    _b("K50-K52", "Noninfective enteritis and colitis", "非感染性小肠炎和结肠炎", "XI"),
    _b("K55-K64", "Other diseases of intestines", "肠的其他疾病", "XI"),
    _b("K65-K67", "Diseases of peritoneum", "腹膜疾病", "XI"),
    _b("K70-K77", "Diseases of liver", "肝疾病", "XI"),
    _b(
        "K80-K87",
        "Disorders of gallbladder, biliary tract and pancreas",
        "胆囊、胆道和胰疾患",
        "XI",
    ),
    _b("K90-K93", "Other diseases of the digestive system", "消化系统的其他疾病", "XI"),
    # XII 皮肤和皮下组织疾病
    _b("L00-L08", "Infections of the skin and subcutaneous tissue", "皮肤和皮下组织感染", "XII"),
    _b("L10-L14", "Bullous disorders", "大疱性疾患", "XII"),
    _b("L20-L30", "Dermatitis and eczema", "皮炎和湿疹", "XII"),
    _b("L40-L45", "Papulosquamous disorders", "丘疹鳞屑性疾患", "XII"),
    _b("L50-L54", "Urticaria and erythema", "荨麻疹和红斑", "XII"),
    _b(
        "L55-L59",
        "Radiation-related disorders of the skin and subcutaneous tissue",
        "与辐射有关的皮肤和皮下组织疾患",
        "XII",
    ),
    _b("L60-L75", "Disorders of skin appendages", "皮肤附属器疾患", "XII"),
    _b(
        "L80-L99",
        "Other disorders of the skin and subcutaneous tissue",
        "皮肤和皮下组织的其他疾患",
        "XII",
    ),
    # XIII 肌肉骨骼系统和结缔组织疾病
    _b("M00-M03", "Infectious arthropathies", "感染性关节病", "XIII"),
    _b("M05-M14", "Inflammatory polyarthropathies", "炎性多关节病", "XIII"),
    _b("M15-M19", "Arthrosis", "关节病", "XIII"),
    _b("M20-M25", "Other joint disorders", "其他关节疾患", "XIII"),
    _b("M30-M36", "Systemic connective tissue disorders", "系统性结缔组织疾患", "XIII"),
    _b("M40-M54", "Dorsopathies", "背部病", "XIII"),
    _b("M60-M63", "Disorders of muscles", "肌肉疾患", "XIII"),
    _b("M65-M68", "Disorders of synovium and tendon", "滑膜和肌腱疾患", "XIII"),
    _b("M70-M79", "Other soft tissue disorders", "其他软组织疾患", "XIII"),
    _b("M80-M85", "Disorders of bone density and structure", "骨密度和骨结构疾患", "XIII"),
    _b("M86-M90", "Other osteopathies", "其他骨病", "XIII"),
    _b("M91-M94", "Chondropathies", "软骨病", "XIII"),
    _b(
        "M95-M99",
        "Other disorders of the musculoskeletal system and connective tissue",
        "肌肉骨骼系统和结缔组织的其他疾患",
        "XIII",
    ),
    # XIV 泌尿生殖系统疾病
    _b("N00-N08", "Glomerular diseases", "肾小球疾病", "XIV"),
    _b("N10-N16", "Renal tubulo-interstitial diseases", "肾小管-间质疾病", "XIV"),
    _b("N17-N19", "Renal failure", "肾衰竭", "XIV"),
    _b("N20-N23", "Urolithiasis", "尿石病", "XIV"),
    _b("N25-N29", "Other disorders of kidney and ureter", "肾和输尿管的其他疾患", "XIV"),
    _b("N30-N39", "Other diseases of urinary system", "泌尿系统的其他疾病", "XIV"),
    _b("N40-N51", "Diseases of male genital organs", "男性生殖器官疾病", "XIV"),
    _b("N60-N64", "Disorders of breast", "乳房疾患", "XIV"),
    _b("N70-N77", "Inflammatory diseases of female pelvic organs", "女性盆腔器官炎性疾病", "XIV"),
    _b(
        "N80-N98",
        "Noninflammatory disorders of female genital tract",
        "女性生殖道非炎性疾患",
        "XIV",
    ),
    _b("N99", "Other disorders of the genitourinary system", "泌尿生殖系统的其他疾患", "XIV"),
    # XV 妊娠、分娩和产褥期
    _b("O00-O08", "Pregnancy with abortive outcome", "流产结局的妊娠", "XV"),
    _b(
        "O10-O16",
        "Oedema, proteinuria and hypertensive disorders in pregnancy, childbirth "
        "and the puerperium",
        "妊娠、分娩和产褥期的水肿、蛋白尿和高血压疾患",
        "XV",
    ),
    _b(
        "O20-O29",
        "Other maternal disorders predominantly related to pregnancy",
        "主要与妊娠有关的其他孕产妇疾患",
        "XV",
    ),
    _b(
        "O30-O48",
        "Maternal care related to the fetus and amniotic cavity and possible delivery problems",
        "与胎儿和羊膜腔及可能的分娩问题有关的孕产妇医疗",
        "XV",
    ),
    _b("O60-O75", "Complications of labour and delivery", "产程和分娩的并发症", "XV"),
    _b("O80-O84", "Delivery", "分娩", "XV"),
    _b(
        "O85-O92",
        "Complications predominantly related to the puerperium",
        "主要与产褥期有关的并发症",
        "XV",
    ),
    _b(
        "O94-O99",
        "Other obstetric conditions, not elsewhere classified",
        "其他产科情况，不可归类在他处者",
        "XV",
    ),
    # XVI 起源于围生期的某些情况
    _b(
        "P00-P04",
        "Fetus and newborn affected by maternal factors and by complications of "
        "pregnancy, labour and delivery",
        "胎儿和新生儿受母体因素及妊娠、产程和分娩并发症的影响",
        "XVI",
    ),
    _b(
        "P05-P08",
        "Disorders related to length of gestation and fetal growth",
        "与妊娠期长短和胎儿生长有关的疾患",
        "XVI",
    ),
    _b("P10-P15", "Birth trauma", "产伤", "XVI"),
    _b(
        "P20-P29",
        "Respiratory and cardiovascular disorders specific to the perinatal period",
        "特发于围生期的呼吸和心血管疾患",
        "XVI",
    ),
    _b("P35-P39", "Infections specific to the perinatal period", "特发于围生期的感染", "XVI"),
    _b(
        "P50-P61",
        "Haemorrhagic and haematological disorders of fetus and newborn",
        "胎儿和新生儿的出血性和血液疾患",
        "XVI",
    ),
    _b(
        "P70-P74",
        "Transitory endocrine and metabolic disorders specific to fetus and newborn",
        "特异于胎儿和新生儿的暂时性内分泌和代谢紊乱",
        "XVI",
    ),
    _b(
        "P75-P78",
        "Digestive system disorders of fetus and newborn",
        "胎儿和新生儿的消化系统疾患",
        "XVI",
    ),
    _b(
        "P80-P83",
        "Conditions involving the integument and temperature regulation of fetus and newborn",
        "涉及胎儿和新生儿皮肤和体温调节的情况",
        "XVI",
    ),
    _b(
        "P90-P96",
        "Other disorders originating in the perinatal period",
        "起源于围生期的其他疾患",
        "XVI",
    ),
    # XVII 先天性畸形、变形和染色体异常
    _b("Q00-Q07", "Congenital malformations of the nervous system", "神经系统先天性畸形", "XVII"),
    _b(
        "Q10-Q18",
        "Congenital malformations of eye, ear, face and neck",
        "眼、耳、面和颈部先天性畸形",
        "XVII",
    ),
    _b(
        "Q20-Q28",
        "Congenital malformations of the circulatory system",
        "循环系统先天性畸形",
        "XVII",
    ),
    _b(
        "Q30-Q34",
        "Congenital malformations of the respiratory system",
        "呼吸系统先天性畸形",
        "XVII",
    ),
    _b("Q35-Q37", "Cleft lip and cleft palate", "唇裂和腭裂", "XVII"),
    _b(
        "Q38-Q45",
        "Other congenital malformations of the digestive system",
        "消化系统的其他先天性畸形",
        "XVII",
    ),
    _b("Q50-Q56", "Congenital malformations of genital organs", "生殖器官先天性畸形", "XVII"),
    _b("Q60-Q64", "Congenital malformations of the urinary system", "泌尿系统先天性畸形", "XVII"),
    _b(
        "Q65-Q79",
        "Congenital malformations and deformations of the musculoskeletal system",
        "肌肉骨骼系统先天性畸形和变形",
        "XVII",
    ),
    _b("Q80-Q89", "Other congenital malformations", "其他先天性畸形", "XVII"),
    _b(
        "Q90-Q99",
        "Chromosomal abnormalities, not elsewhere classified",
        "染色体异常，不可归类在他处者",
        "XVII",
    ),
    # XVIII 症状、体征和临床与实验室异常所见
    _b(
        "R00-R09",
        "Symptoms and signs involving the circulatory and respiratory systems",
        "涉及循环和呼吸系统的症状和体征",
        "XVIII",
    ),
    _b(
        "R10-R19",
        "Symptoms and signs involving the digestive system and abdomen",
        "涉及消化系统和腹部的症状和体征",
        "XVIII",
    ),
    _b(
        "R20-R23",
        "Symptoms and signs involving the skin and subcutaneous tissue",
        "涉及皮肤和皮下组织的症状和体征",
        "XVIII",
    ),
    _b(
        "R25-R29",
        "Symptoms and signs involving the nervous and musculoskeletal systems",
        "涉及神经和肌肉骨骼系统的症状和体征",
        "XVIII",
    ),
    _b(
        "R30-R39",
        "Symptoms and signs involving the urinary system",
        "涉及泌尿系统的症状和体征",
        "XVIII",
    ),
    _b(
        "R40-R46",
        "Symptoms and signs involving cognition, perception, emotional state and behaviour",
        "涉及认识、知觉、情绪状态和行为的症状和体征",
        "XVIII",
    ),
    _b(
        "R47-R49",
        "Symptoms and signs involving speech and voice",
        "涉及言语和嗓音的症状和体征",
        "XVIII",
    ),
    _b("R50-R69", "General symptoms and signs", "全身性症状和体征", "XVIII"),
    _b(
        "R70-R79",
        "Abnormal findings on examination of blood, without diagnosis",
        "血液检查的异常所见，无诊断",
        "XVIII",
    ),
    _b(
        "R80-R82",
        "Abnormal findings on examination of urine, without diagnosis",
        "尿液检查的异常所见，无诊断",
        "XVIII",
    ),
    _b(
        "R83-R89",
        "Abnormal findings on examination of other body fluids, substances and "
        "tissues, without diagnosis",
        "其他体液、物质和组织检查的异常所见，无诊断",
        "XVIII",
    ),
    _b(
        "R90-R94",
        "Abnormal findings on diagnostic imaging and in function studies, without diagnosis",
        "诊断性影像检查和功能检查的异常所见，无诊断",
        "XVIII",
    ),
    _b(
        "R95-R99",
        "Ill-defined and unknown causes of mortality",
        "原因不明确和原因未知的死亡",
        "XVIII",
    ),
    # XIX 损伤、中毒和外因的某些其他后果
    _b("S00-S09", "Injuries to the head", "头部损伤", "XIX"),
    _b("S10-S19", "Injuries to the neck", "颈部损伤", "XIX"),
    _b("S20-S29", "Injuries to the thorax", "胸部损伤", "XIX"),
    _b(
        "S30-S39",
        "Injuries to the abdomen, lower back, lumbar spine and pelvis",
        "腹部、下背、腰椎和骨盆损伤",
        "XIX",
    ),
    _b("S40-S49", "Injuries to the shoulder and upper arm", "肩和上臂损伤", "XIX"),
    _b("S50-S59", "Injuries to the elbow and forearm", "肘和前臂损伤", "XIX"),
    _b("S60-S69", "Injuries to the wrist and hand", "腕和手损伤", "XIX"),
    _b("S70-S79", "Injuries to the hip and thigh", "髋和大腿损伤", "XIX"),
    _b("S80-S89", "Injuries to the knee and lower leg", "膝和小腿损伤", "XIX"),
    _b("S90-S99", "Injuries to the ankle and foot", "踝和足损伤", "XIX"),
    _b("T00-T07", "Injuries involving multiple body regions", "涉及身体多个部位的损伤", "XIX"),
    _b(
        "T08-T14",
        "Injuries to unspecified part of trunk, limb or body region",
        "躯干、四肢或身体未特指部位的损伤",
        "XIX",
    ),
    _b(
        "T15-T19",
        "Effects of foreign body entering through natural orifice",
        "通过自然腔口进入的异物的效应",
        "XIX",
    ),
    _b("T20-T32", "Burns and corrosions", "烧伤和腐蚀伤", "XIX"),
    _b("T33-T35", "Frostbite", "冻伤", "XIX"),
    _b(
        "T36-T50",
        "Poisoning by drugs, medicaments and biological substances",
        "药物、药剂和生物制品中毒",
        "XIX",
    ),
    _b(
        "T51-T65",
        "Toxic effects of substances chiefly nonmedicinal as to source",
        "主要为非药用物质的毒性效应",
        "XIX",
    ),
    _b(
        "T66-T78",
        "Other and unspecified effects of external causes",
        "外因的其他和未特指的效应",
        "XIX",
    ),
    _b("T79", "Certain early complications of trauma", "创伤的某些早期并发症", "XIX"),
    _b(
        "T80-T88",
        "Complications of surgical and medical care, not elsewhere classified",
        "手术和医疗的并发症，不可归类在他处者",
        "XIX",
    ),
    _b(
        "T90-T98",
        "Sequelae of injuries, of poisoning and of other consequences of external causes",
        "损伤、中毒和外因的其他后果的后遗症",
        "XIX",
    ),
    # XX 疾病和死亡的外因
    _b("V01-X59", "Accidents", "意外事故", "XX"),
    _b("X60-X84", "Intentional self-harm", "故意自害", "XX"),
    _b("X85-Y09", "Assault", "加害", "XX"),
    _b("Y10-Y34", "Event of undetermined intent", "意图不确定的事件", "XX"),
    _b("Y35-Y36", "Legal intervention and operations of war", "依法处置和作战行动", "XX"),
    _b("Y40-Y84", "Complications of medical and surgical care", "医疗和手术的并发症", "XX"),
    _b(
        "Y85-Y89",
        "Sequelae of external causes of morbidity and mortality",
        "疾病和死亡外因的后遗症",
        "XX",
    ),
    _b(
        "Y90-Y98",
        "Supplementary factors related to causes of morbidity and mortality classified elsewhere",
        "与分类于他处的疾病和死亡原因有关的补充因素",
        "XX",
    ),
    # XXI 影响健康状态和与保健机构接触的因素
    _b(
        "Z00-Z13",
        "Persons encountering health services for examination and investigation",
        "为检查和调查而与保健机构接触的人",
        "XXI",
    ),
    _b(
        "Z20-Z29",
        "Persons with potential health hazards related to communicable diseases",
        "与传染病有关的潜在健康危害者",
        "XXI",
    ),
    _b(
        "Z30-Z39",
        "Persons encountering health services in circumstances related to reproduction",
        "在与生殖有关情况下与保健机构接触的人",
        "XXI",
    ),
    _b(
        "Z40-Z54",
        "Persons encountering health services for specific procedures and health care",
        "为特殊操作和医疗保健而与保健机构接触的人",
        "XXI",
    ),
    _b(
        "Z55-Z65",
        "Persons with potential health hazards related to socioeconomic and "
        "psychosocial circumstances",
        "与社会经济和社会心理环境有关的潜在健康危害者",
        "XXI",
    ),
    _b(
        "Z70-Z76",
        "Persons encountering health services in other circumstances",
        "在其他情况下与保健机构接触的人",
        "XXI",
    ),
    _b(
        "Z80-Z99",
        "Persons with potential health hazards related to family and personal "
        "history and certain conditions influencing health status",
        "与家族史和个人史以及影响健康状态的某些情况有关的潜在健康危害者",
        "XXI",
    ),
    # XXII 用于特殊目的的编码
    _b(
        "U00-U49",
        "Provisional assignment of new diseases of uncertain etiology or emergency use",
        "病因不明新疾病的暂时分配或紧急使用",
        "XXII",
    ),
    _b(
        "U82-U85",
        "Resistance to antimicrobial and antineoplastic drugs",
        "对抗微生物和抗肿瘤药物的耐药性",
        "XXII",
    ),
)

#: Block code of claims whose category is in no block.
OTHER_BLOCK = "other"

_CATEGORY_BLOCK: dict[str, Icd10Block] = {}
for _blk in ICD10_BLOCKS:
    for _letter in range(ord(_blk.start[0]), ord(_blk.end[0]) + 1):
        _lo = int(_blk.start[1:]) if chr(_letter) == _blk.start[0] else 0
        _hi = int(_blk.end[1:]) if chr(_letter) == _blk.end[0] else 99
        for _num in range(_lo, _hi + 1):
            _CATEGORY_BLOCK[f"{chr(_letter)}{_num:02d}"] = _blk


def _block_codes(codes: pd.Series | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Block codes (-1: no diagnosis) and their block ids, mapping each distinct code once."""
    c, uniq = _factor(codes)
    blocks = []
    for u in uniq:
        blk = _CATEGORY_BLOCK.get(str(u).strip().upper()[:3])
        blocks.append(blk.code if blk else OTHER_BLOCK)
    b_codes, b_uniq = pd.factorize(pd.Series(blocks, dtype=object))
    lut = np.append(np.asarray(b_codes, dtype=np.int64), -1)
    return lut[c], np.asarray(b_uniq, dtype=object)


def icd10_block(codes: pd.Series) -> pd.Series:
    """ICD-10 block code of each main diagnosis (``E11.9`` -> ``E10-E14``).

    Parameters
    ----------
    codes : Series of str
        ICD-10 codes; case, spaces and a missing dot are tolerated (``e119``).

    Returns
    -------
    Series of object
        Block code, :data:`OTHER_BLOCK` for a category in no block, None when missing.
    """
    c, uniq = _block_codes(codes)
    with_none = np.array([*uniq, None], dtype=object)
    return pd.Series(with_none[c], index=codes.index, dtype=object)


_BLOCK_BY_CODE: dict[str, Icd10Block] = {b.code: b for b in ICD10_BLOCKS}


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Unique values of an int array by sorting (numpy's hash unique is slow on 5M ints)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def disease_burden(
    as_of: dt.date,
    claims: pd.DataFrame,
    residents: pd.DataFrame,
    population: pd.DataFrame | None = None,
    towns: pd.DataFrame | Iterable[str] | None = None,
    top: int = 10,
    *,
    areas: pd.DataFrame | None = None,
    k: int | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Top ICD-10 blocks per town over the window, with rates and ratios to the county.

    For each (town, block): visits (claims), patients (distinct residents), cost
    (``total_cost``) and fund (``fund_paid``) in ``W``; ``rate_per_1000`` = patients / town
    population × 1000; ``county_rate_per_1000`` = county patients of the block / county
    population × 1000; ``ratio_to_county`` = rate / county rate.

    Parameters
    ----------
    as_of : date
        ``D``; the window is the ``config.indicators.window_days`` days ending D.
    claims, residents : DataFrame
        Canonical frames (``docs/frames.md``).
    population : DataFrame, optional
        Village (or town) × sex × age band counts; without it, active residents.
    towns : DataFrame or iterable of str, optional
        Towns to report (default: every town with claims). A DataFrame with ``area_code``
        (and ``name``) also names them; an ``areas`` frame works as is (non-town rows are
        ignored).
    top : int
        Blocks per town: those ranked within ``top`` by visits, patients or cost.
    areas : DataFrame, optional
        Village -> town parents, for population rows at village codes.
    k : int, optional
        Small-number threshold (default ``config.indicators.suppression_k``); 0 disables.
    config : RulesConfig

    Returns
    -------
    DataFrame
        town_code, [town_name], block, block_name, block_name_zh, chapter, visits, patients,
        cost, fund_paid, population, rate_per_1000, county_rate_per_1000, ratio_to_county,
        rank_visits, rank_patients, rank_cost (1 = highest), suppressed; sorted by town,
        rank_patients, block.
    """
    k = config.indicators.suppression_k if k is None else k
    d_day = _day_number(as_of)
    w_start = d_day - config.indicators.window_days + 1
    res = _unique_residents(residents)
    n = len(res)
    lookup = _resident_lookup(res)

    # Town of each resident: town_code, else the village's parent (mapped per village).
    village = _factor(_col(res, "area_code"))
    town0 = _factor(_col(res, "town_code"))
    geo = Geography.build(None, areas, _village_town_hint(village, town0))
    t_codes, t_uniq = _fallback_codes(town0, _derive_codes(village[0], village[1], geo.town))

    # Claims in W with a diagnosis, of a resident on file who has a town.
    c_day, c_ok = _days(claims["visit_date"])
    in_w = c_ok & (c_day >= w_start) & (c_day <= d_day)
    mask = pa.array(in_w)
    idx = lookup(_to_arrow(claims["resident_id"]).filter(mask))
    b_codes, b_uniq = _block_codes(_to_arrow(_col(claims, "icd10")).filter(mask))
    town_of_claim = np.where(idx >= 0, t_codes[np.maximum(idx, 0)], -1)
    keep = (idx >= 0) & (b_codes >= 0) & (town_of_claim >= 0)
    idx, tc, bc = idx[keep], town_of_claim[keep], b_codes[keep]
    cost = _to_num(_col(claims, "total_cost"))[in_w][keep]
    fund = _to_num(_col(claims, "fund_paid"))[in_w][keep]
    nt, nb = len(t_uniq), len(b_uniq)
    cell = tc * nb + bc  # (town, block)
    size = nt * nb
    visits = np.bincount(cell, minlength=size)
    # Distinct residents per (town, block) and per block county-wide: sort unique pairs.
    patients = np.bincount(_sorted_unique(cell * (n + 1) + idx) // (n + 1), minlength=size)
    county_patients = np.bincount(_sorted_unique(bc * (n + 1) + idx) // (n + 1), minlength=nb)

    # Population per town (the county: all towns).
    active = _active(res, d_day)
    if population is None:
        ok_t = t_codes >= 0
        pop = np.bincount(t_codes[ok_t], weights=active[ok_t].astype(float), minlength=nt)
        pop_town = pd.Series(pop, index=pd.Index(t_uniq, dtype=object))
    else:
        ok_v = village[0] >= 0
        act_v = np.bincount(
            village[0][ok_v], weights=active[ok_v].astype(float), minlength=len(village[1])
        )
        pv = village_population(population, as_of, geo, dict(zip(village[1], act_v, strict=True)))
        pop_town = pv.groupby("town")["pop_total"].sum()
    county_pop = float(pop_town.sum())

    nz = np.flatnonzero(visits)
    out = pd.DataFrame(
        {
            "town_code": t_uniq[nz // nb] if nb else np.array([], dtype=object),
            "block": b_uniq[nz % nb] if nb else np.array([], dtype=object),
            "visits": visits[nz].astype(float),
            "patients": patients[nz].astype(float),
            "cost": np.bincount(cell, weights=cost, minlength=size)[nz],
            "fund_paid": np.bincount(cell, weights=fund, minlength=size)[nz],
        }
    )
    out["population"] = out["town_code"].map(pop_town).astype(float)
    county_rate = pd.Series(
        county_patients / county_pop * 1000 if county_pop > 0 else np.full(nb, np.nan),
        index=pd.Index(b_uniq, dtype=object),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate_per_1000"] = np.where(
            out["population"] > 0, out["patients"] / out["population"] * 1000, np.nan
        )
        out["county_rate_per_1000"] = out["block"].map(county_rate).astype(float)
        out["ratio_to_county"] = np.where(
            out["county_rate_per_1000"] > 0,
            out["rate_per_1000"] / out["county_rate_per_1000"],
            np.nan,
        )
    by_town = out.groupby("town_code")
    for what, col_name in (
        ("visits", "rank_visits"),
        ("patients", "rank_patients"),
        ("cost", "rank_cost"),
    ):
        out[col_name] = by_town[what].rank(method="min", ascending=False).astype(int)
    listed = (out[["rank_visits", "rank_patients", "rank_cost"]] <= top).any(axis=1)
    out = out[listed]

    names: dict[str, str] = {}
    if towns is not None:
        if isinstance(towns, pd.DataFrame):
            t = towns
            if "level" in t.columns:
                t = t[t["level"].astype(str).str.strip().str.lower().isin(["town", "乡镇"])]
            codes = _ids(t["area_code"]).astype(object)
            if "name" in t.columns:
                names = dict(zip(codes, t["name"].astype(object), strict=True))
            wanted = set(codes.dropna())
        else:
            wanted = {str(x) for x in towns}
        out = out[out["town_code"].isin(list(wanted))]
    out = out.assign(
        block_name=out["block"].map(
            lambda b: _BLOCK_BY_CODE[b].name_en if b in _BLOCK_BY_CODE else "Other / unclassified"
        ),
        block_name_zh=out["block"].map(
            lambda b: _BLOCK_BY_CODE[b].name_zh if b in _BLOCK_BY_CODE else "其他/未归类"
        ),
        chapter=out["block"].map(
            lambda b: _BLOCK_BY_CODE[b].chapter if b in _BLOCK_BY_CODE else None
        ),
    )
    small = (out["patients"] > 0) & (out["patients"] < k)  # 0 patients never listed
    out["suppressed"] = small
    for c_name in ("visits", "patients", "cost", "fund_paid", "rate_per_1000", "ratio_to_county"):
        out[c_name] = out[c_name].astype(float).mask(small)
    cols = [
        "town_code",
        "block",
        "block_name",
        "block_name_zh",
        "chapter",
        "visits",
        "patients",
        "cost",
        "fund_paid",
        "population",
        "rate_per_1000",
        "county_rate_per_1000",
        "ratio_to_county",
        "rank_visits",
        "rank_patients",
        "rank_cost",
        "suppressed",
    ]
    if names:
        out["town_name"] = out["town_code"].map(names)
        cols.insert(1, "town_name")
    out = out.sort_values(["town_code", "rank_patients", "block"], kind="stable")
    return out[cols].reset_index(drop=True)
